import 'reflect-metadata';
import { ConfigError, loadConfig } from './config/app-config';
import { runMigrations } from './database/data-source';

/** `npm run migration:run` / the Kubernetes migration Job: create the database if needed, migrate, exit. */
async function main(): Promise<void> {
  const config = loadConfig();
  const ran = await runMigrations(config.databaseUrl);
  console.log(ran.length ? `Applied migrations: ${ran.join(', ')}` : 'Database is up to date.');
}

main().catch((err) => {
  console.error(err instanceof ConfigError ? `Configuration error: ${err.message}` : err);
  process.exit(1);
});
