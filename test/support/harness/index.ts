/**
 * The one harness of tests, benchmarks and the demo, by concern:
 *   dns-server       a UDP DNS server answering one name with addresses the test sets (VLLM_DISCOVERY)
 *   processes        spawn the built service (any role) and simulator, kill them, wait for a port
 *   private-servers  a redis-server and a PostgreSQL cluster of a test's own, to stop and restart
 *   isolated-env     a database, Redis prefix and storage dir of one's own; the test tenants
 *   metrics          Prometheus text samples (through the service's own parser), process memory
 *   batches          an SDK client, polling a batch until a status
 *   wait             sleep, until
 * The in-process app and its `describeApp()` fixture live beside it (test-app.ts, app-fixture.ts):
 * they load the service's modules, which the benchmarks have no use for.
 */
export * from './batches';
export * from './dns-server';
export * from './isolated-env';
export * from './metrics';
export * from './private-servers';
export * from './processes';
export * from './wait';
