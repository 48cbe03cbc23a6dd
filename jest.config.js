/** Tests run from TypeScript sources (ts-jest; transpile only, as tsconfig sets isolatedModules:
 *  `npm test` type-checks with tsc first).
 *  Code that must run in another process or a worker thread is loaded compiled: the product
 *  (CLI, media workers, wasm binding) from dist/ (`npm run build`), test scripts such as
 *  test/tftp/relay-child.ts and the demo from dist-dev/ (`npm run build:dev`); `npm test` builds both. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  testTimeout: 30000,
  maxWorkers: 2,
};
