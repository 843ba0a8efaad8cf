/**
 * The layering the tree promises (README, "Architecture"), checked by `npm run lint`:
 * platform and common are the ground floor, domain sits on them, and the two roles (api, worker)
 * sit on domain without reaching into each other. The command line (cli) is a client of the API:
 * it reuses domain's input rules so its checks are the service's, and nothing of the server.
 * Folder-level cycles are refused too, so two folders never import each other.
 */
const layer = (name, mayNotReach, why) => ({
  name: `${name}-layer`,
  comment: why,
  severity: 'error',
  from: { path: `^src/${name}/` },
  to: { path: `^src/(${mayNotReach.join('|')})/` },
});

module.exports = {
  forbidden: [
    layer('common', ['platform', 'domain', 'api', 'worker', 'cli'], 'the toolbox depends on nothing of ours'),
    layer('platform', ['domain', 'api', 'worker', 'cli'], 'infrastructure knows no feature'),
    layer('domain', ['api', 'worker', 'cli'], 'batches and files rules are shared by both roles'),
    layer('api', ['worker', 'cli'], 'the HTTP side runs without the worker (APP_ROLE=api)'),
    layer('worker', ['api', 'cli'], 'the worker runs without the HTTP side (APP_ROLE=worker)'),
    layer('cli', ['platform', 'api', 'worker'], 'the command line talks to the service over HTTP only'),
    {
      name: 'no-folder-cycles',
      comment: 'two folders that import each other are one concern split in two, or a missing layer',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-module-cycles',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.spec\\.ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
