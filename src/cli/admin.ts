/**
 * `vllm-batch admin …`: tenants, API keys, webhook endpoints, usage and the audit trail through the
 * admin API (admin port, HTTP Basic auth). Secrets the API returns once (a new key, a webhook
 * secret) are printed once, with a word that they cannot be shown again.
 */
import { Command, Option } from 'commander';
import { AdminClient, TenantLimits, TenantSettings } from './admin-client';
import { grouping, lifetime, limit, positiveInt, time, UsageGrouping } from './args';
import { CliContext } from './context';
import { CliError, EXIT } from './errors';
import {
  auditTable,
  describeKey,
  describeRows,
  describeTenant,
  keyTable,
  tenantTable,
  usageTable,
  when,
} from './format';

type Context = (cmd: Command) => CliContext;

type Limit = number | 'default';

interface TenantOptions {
  tier?: string;
  rateLimitMultiplier?: Limit;
  enqueuedTokenLimit?: Limit;
  maxActiveBatches?: Limit;
}

const SHOWN_ONCE = 'shown this once: store it now, it cannot be shown again';

export function addAdminCommands(program: Command, context: Context, done: (code: number) => void): void {
  const admin = program
    .command('admin')
    .description('manage tenants, API keys, webhook endpoints; read usage and the audit trail (admin API)')
    .option(
      '--admin-url <url>',
      'the admin port (default: $VLLM_BATCH_ADMIN_URL, else http://127.0.0.1:4081)',
    )
    .option('--admin-user <user>', 'an admin user (default: $ADMIN_USER)')
    .option('--admin-password <password>', 'its password (default: $ADMIN_PASSWORD; prefer the variable)');

  /**
   * An action that makes one call of the admin API with the command's arguments and options, prints
   * its answer (JSON with --json, else `human`) and exits 0; a refusal of the API is thrown (exit 1).
   */
  const run =
    <A extends unknown[], T>(
      call: (api: AdminClient, ...args: A) => Promise<T>,
      human: (c: CliContext, value: T, ...args: A) => void,
    ) =>
    async (...args: unknown[]): Promise<void> => {
      const c = context(args[args.length - 1] as Command);
      const given = args.slice(0, -1) as A;
      const value = await call(c.admin, ...given);
      if (c.json) c.printJson(value);
      else human(c, value, ...given);
      done(EXIT.ok);
    };

  // Tenants --------------------------------------------------------------------------------------
  const tenants = admin.command('tenants').description('tenants: their tier, limits and state');
  const settingsOptions = (cmd: Command): Command =>
    cmd
      .option('--tier <name>', 'a THROTTLE_TIERS name, or "default"')
      .option(
        '--rate-limit-multiplier <x>',
        'scales the tier\'s rate limits (e.g. 2); "default": the environment\'s',
        limit((n) => Number.isFinite(n) && n > 0, 'a number above 0'),
      )
      .option(
        '--enqueued-token-limit <n>',
        'tokens its unfinished batches may hold (0: unlimited; "default": the environment\'s)',
        limit((n) => Number.isInteger(n) && n >= 0, 'a whole number, 0 for unlimited'),
      )
      .option(
        '--max-active-batches <n>',
        'batches it may have running at once (0: unlimited; "default": the environment\'s)',
        limit((n) => Number.isInteger(n) && n >= 0, 'a whole number, 0 for unlimited'),
      );

  tenants
    .command('ls')
    .description('list tenants (those of the database, and those only API_KEYS names)')
    .action(
      run(
        (api) => api.listTenants(),
        (c, list) => c.out(tenantTable(list.data)),
      ),
    );
  tenants
    .command('get')
    .description('show a tenant')
    .argument('<id>')
    .action(
      run(
        (api, id: string) => api.getTenant(id),
        (c, t) => c.out(describeTenant(t)),
      ),
    );
  settingsOptions(
    tenants
      .command('create')
      .description('create a tenant (then give it a key: admin keys create)')
      .argument('<id>'),
  ).action(
    run(
      (api, id: string, opts: TenantOptions) => api.createTenant(id, tenantSettings(opts)),
      (c, t) => {
        c.out(describeTenant(t));
        c.note(`Give it a key with: vllm-batch admin keys create --tenant ${t.id}`);
      },
    ),
  );
  settingsOptions(
    tenants
      .command('update')
      .description("change a tenant's tier or limits (at once, no restart)")
      .argument('<id>'),
  ).action(
    run(
      (api, id: string, opts: TenantOptions) => {
        const settings = tenantSettings(opts);
        if (settings.tier === undefined && settings.limits === undefined) {
          throw new CliError(
            'Nothing to change: name --tier, --rate-limit-multiplier, --enqueued-token-limit or --max-active-batches.',
          );
        }
        return api.updateTenant(id, settings);
      },
      (c, t) => c.out(describeTenant(t)),
    ),
  );
  tenants
    .command('disable')
    .description('disable a tenant: its keys stop working within seconds; its batches and files stay')
    .argument('<id>')
    .action(
      run(
        (api, id: string) => api.disableTenant(id),
        (c, t) => {
          c.out(describeTenant(t));
          c.note(`Its keys are refused within 5 s. Undo with: vllm-batch admin tenants enable ${t.id}`);
        },
      ),
    );
  tenants
    .command('enable')
    .description('enable a disabled tenant again')
    .argument('<id>')
    .action(
      run(
        (api, id: string) => api.enableTenant(id),
        (c, t) => c.out(describeTenant(t)),
      ),
    );

  // Keys -----------------------------------------------------------------------------------------
  const keys = admin.command('keys').description('API keys (the service keeps only a hash of each)');
  keys
    .command('create')
    .description('create a key for a tenant; the key is printed this once')
    .requiredOption('--tenant <id>', 'the tenant it belongs to')
    .option('--name <name>', 'what it is for (shown in lists)')
    .addOption(
      new Option('--expires-in <duration>', 'it stops working after this long, e.g. 90d, 12h')
        .argParser(lifetime)
        .conflicts('expiresAt'),
    )
    .addOption(
      new Option(
        '--expires-at <time>',
        'it stops working at this time (2025-12-31, an ISO time, unix seconds)',
      ).argParser(time),
    )
    .action(
      run(
        (api, opts: { tenant: string; name?: string; expiresIn?: number; expiresAt?: number }) =>
          api.createKey({
            tenant: opts.tenant,
            ...(opts.name !== undefined ? { name: opts.name } : {}),
            ...(opts.expiresIn !== undefined
              ? { expires_at: Math.floor((Date.now() + opts.expiresIn) / 1000) }
              : opts.expiresAt !== undefined
                ? { expires_at: opts.expiresAt }
                : {}),
          }),
        (c, k) => {
          c.out(`${describeKey(k)}\n  ${'key'.padEnd(12)}${k.key}`);
          c.note(`The key is ${SHOWN_ONCE} (the service keeps only its hash).`);
        },
      ),
    );
  keys
    .command('ls')
    .description('list keys (never their secret), optionally of one tenant')
    .option('--tenant <id>', "only this tenant's keys")
    .action(
      run(
        (api, opts: { tenant?: string }) => api.listKeys(opts.tenant),
        (c, list) => c.out(keyTable(list.data)),
      ),
    );
  keys
    .command('revoke')
    .description('revoke a key: refused on every API replica within seconds')
    .argument('<key_id>')
    .action(
      run(
        (api, id: string) => api.revokeKey(id),
        (c, k) => {
          c.out(describeKey(k));
          c.note('Refused on every API replica within 5 s.');
        },
      ),
    );

  // Webhook endpoints ----------------------------------------------------------------------------
  const webhook = admin.command('webhook').description("a tenant's webhook endpoint and its signing secret");
  webhook
    .command('set')
    .description('set the URL (or rotate the secret): prints a fresh whsec_ secret this once')
    .argument('<tenant>')
    .argument('<url>')
    .action(
      run(
        (api, tenant: string, url: string) => api.setWebhook(tenant, url),
        (c, w) => {
          c.out(
            describeRows(`${w.tenant} webhook`, [
              ['url', w.url],
              ['secret', w.secret],
              ...(w.previous_secret_expires_at
                ? [
                    ['old secret', `signs too until ${when(w.previous_secret_expires_at)}`] as [
                      string,
                      string,
                    ],
                  ]
                : []),
            ]),
          );
          c.note(`The secret is ${SHOWN_ONCE}.`);
        },
      ),
    );
  webhook
    .command('rm')
    .description("remove a tenant's webhook endpoint (no more deliveries)")
    .argument('<tenant>')
    .action(
      run(
        (api, tenant: string) => api.deleteWebhook(tenant),
        (c, d) => c.out(`${d.tenant}: webhook endpoint removed`),
      ),
    );

  // Usage and audit ------------------------------------------------------------------------------
  admin
    .command('usage')
    .description('requests and tokens per tenant (and day or model), from per-batch totals')
    .option('--tenant <id>', 'one tenant (default: all)')
    .option('--since <time>', 'from (2025-06-01, an ISO time, unix seconds, 7d ago; default 30d)', time)
    .option('--until <time>', 'to (same forms; default now)', time)
    .option('--group-by <by>', 'a row per day (UTC), per model, or both: day, model, day,model', grouping)
    .action(
      run(
        (api, opts: { tenant?: string; since?: number; until?: number; groupBy?: UsageGrouping[] }) =>
          api.usage({
            tenant: opts.tenant,
            since: opts.since,
            until: opts.until,
            group_by: opts.groupBy?.join(','),
          }),
        (c, list, opts) => c.out(usageTable(list.data, opts.groupBy ?? [])),
      ),
    );
  admin
    .command('audit')
    .description('who changed what, newest first')
    .option('--tenant <id>', 'only changes to this tenant, its keys and webhook')
    .option('--limit <n>', 'how many', positiveInt)
    .action(
      run(
        (api, opts: { tenant?: string; limit?: number }) =>
          api.audit({ tenant: opts.tenant, limit: opts.limit }),
        (c, list) => c.out(auditTable(list.data)),
      ),
    );
}

/** The flags given, as the API's body: a field not named is left out (left as it is), `default` is null. */
function tenantSettings(opts: TenantOptions): TenantSettings {
  const flags: Array<[keyof TenantLimits, Limit | undefined]> = [
    ['rate_limit_multiplier', opts.rateLimitMultiplier],
    ['enqueued_token_limit', opts.enqueuedTokenLimit],
    ['max_active_batches', opts.maxActiveBatches],
  ];
  const limits: Partial<TenantLimits> = {};
  for (const [field, value] of flags) {
    if (value !== undefined) limits[field] = value === 'default' ? null : value;
  }
  return {
    ...(opts.tier !== undefined ? { tier: opts.tier } : {}),
    ...(Object.keys(limits).length > 0 ? { limits } : {}),
  };
}
