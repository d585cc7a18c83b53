/** @type {import('jest').Config} */
export default {
  testEnvironment: '<rootDir>/test/support/node-environment.cjs',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, isolatedModules: true, tsconfig: 'tsconfig.json' }],
  },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
  testTimeout: 60000,
  // A real Kubernetes control plane for test/cluster where its binaries are present (docs/testing.md).
  globalSetup: '<rootDir>/test/support/kube/jest-global-setup.mjs',
  globalTeardown: '<rootDir>/test/support/kube/jest-global-teardown.mjs',
  maxWorkers: 2,
};
