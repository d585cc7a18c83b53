// Jest loads global setup outside its module resolution for TypeScript; this runs the compiled one (npm test and
// npm run test:cluster build dist/ first).
export { default } from '../../../dist/test/support/kube/global-setup.js';
