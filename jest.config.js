/** Tests run from TypeScript sources (ts-jest; transpile only, as tsconfig sets isolatedModules:
 *  `npm run build` type-checks).
 *  Code that must run in another process or a worker thread is loaded from dist/, which
 *  `npm test` builds first. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  testTimeout: 30000,
  maxWorkers: 2,
};
