import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { ConfigError, loadDatabaseConfig } from './platform/config/app-config';
import { revertMigrations, runMigrations } from './platform/database/data-source';

class UsageError extends Error {
  constructor() {
    super('usage: node dist/src/migrate.js [up | revert [--steps N]]');
  }
}

function parseCommand(): { command: 'up' } | { command: 'revert'; steps: number } {
  let parsed;
  try {
    parsed = parseArgs({ allowPositionals: true, options: { steps: { type: 'string', default: '1' } } });
  } catch {
    throw new UsageError();
  }
  const [command = 'up', ...extra] = parsed.positionals;
  const steps = Number(parsed.values.steps);
  if (extra.length > 0 || !Number.isInteger(steps) || steps < 1) throw new UsageError();
  if (command === 'up') return { command };
  if (command === 'revert') return { command, steps };
  throw new UsageError();
}

/**
 * `npm run migration:run` / the Kubernetes migration Job: create the database if needed, migrate, exit.
 * `revert [--steps N]` (`npm run migration:revert`) undoes the newest N migrations (default 1); the
 * README says when that is safe. It reads only the database settings: migrating serves no API.
 */
async function main(): Promise<void> {
  const cli = parseCommand();
  const { databaseUrl } = loadDatabaseConfig();
  if (cli.command === 'up') {
    const ran = await runMigrations(databaseUrl);
    console.log(ran.length ? `Applied migrations: ${ran.join(', ')}` : 'Database is up to date.');
    return;
  }
  const reverted = await revertMigrations(databaseUrl, cli.steps);
  console.log(reverted.length ? `Reverted migrations: ${reverted.join(', ')}` : 'No migration to revert.');
}

main().catch((err) => {
  if (err instanceof UsageError) {
    console.error(err.message);
    process.exit(64);
  }
  console.error(err instanceof ConfigError ? `Configuration error: ${err.message}` : err);
  process.exit(err instanceof ConfigError ? 78 : 1);
});
