// The compiled global teardown (see jest-global-setup.mjs).
export { default } from '../../../dist/test/support/kube/global-teardown.js';
