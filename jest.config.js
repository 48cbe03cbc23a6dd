/** Tests run from TypeScript sources (ts-jest, transpile only: `npm run build` type-checks).
 *  Code that must run in another process or a worker thread is loaded from dist/, which
 *  `npm test` builds first. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true }] },
  testTimeout: 30000,
  maxWorkers: 2,
};
