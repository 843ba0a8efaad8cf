/**
 * Three tiers, one Jest project each; `npm test` runs them all, `npm run test:<tier>` (or
 * `npx jest --selectProjects <tier>`) one of them. Path filters work across projects:
 * `npx jest test/files test/batches` runs those folders' tests whatever their tier.
 *
 *   unit         *.spec.ts in src/, simulator/ and test/: pure logic, files on disk, in-process
 *                servers (simulator, S3, webhook receiver) and local tools (promtool, sh). Nothing
 *                needs PostgreSQL, Redis or a build.
 *   integration  *.e2e-spec.ts outside test/reliability/, plus the specs that talk to the real
 *                PostgreSQL or Redis (NEEDS_SERVICES): the app in-process, or built processes.
 *   reliability  test/reliability/: real processes of the built service killed, restarted and fed
 *                faults; minutes, not seconds.
 */
const NEEDS_SERVICES = [
  '<rootDir>/test/batches/batch-limits.spec.ts', // PostgreSQL, two connection pools
  '<rootDir>/test/concurrency/coordination.spec.ts', // Redis
  '<rootDir>/test/models/model-catalogue.spec.ts', // PostgreSQL, two connection pools
  '<rootDir>/test/webhooks/tenant-webhooks.spec.ts', // PostgreSQL, two connection pools
];
const RELIABILITY = '<rootDir>/test/reliability/';

const common = {
  testEnvironment: 'node',
  rootDir: '.',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] },
  moduleFileExtensions: ['ts', 'js', 'json'],
};

module.exports = {
  maxWorkers: 2,
  // A global option: Jest reads it from the root config, not from each project.
  testTimeout: 60000,
  projects: [
    {
      ...common,
      displayName: 'unit',
      roots: ['<rootDir>/src', '<rootDir>/simulator', '<rootDir>/test'],
      testRegex: '.*\\.spec\\.ts$',
      testPathIgnorePatterns: ['/node_modules/', RELIABILITY, ...NEEDS_SERVICES],
    },
    {
      ...common,
      displayName: 'integration',
      roots: ['<rootDir>/test'],
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts', ...NEEDS_SERVICES],
      testPathIgnorePatterns: ['/node_modules/', RELIABILITY],
    },
    {
      ...common,
      displayName: 'reliability',
      roots: [RELIABILITY],
      testRegex: '.*\\.(spec|e2e-spec)\\.ts$',
    },
  ],
};
