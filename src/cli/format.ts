/** Words and numbers for people: batch summaries, tables, sizes, durations, shell-safe commands. */
import type OpenAI from 'openai';
import stringWidth from 'string-width';
import type { ApiKey, AuditEntry, Tenant, TenantLimits, UsageRow } from './admin-client';
import { EXIT } from './errors';

export type Batch = OpenAI.Batches.Batch;

export const TERMINAL_STATUSES: ReadonlySet<string> = new Set([
  'completed',
  'failed',
  'expired',
  'cancelled',
]);

export const isTerminal = (b: Pick<Batch, 'status'>): boolean => TERMINAL_STATUSES.has(b.status);

/** 0: completed, no failed line; 2: completed with failed lines; 1: failed, expired or cancelled. */
export function exitCodeOf(b: Batch): number {
  if (b.status !== 'completed') return EXIT.error;
  return (b.request_counts?.failed ?? 0) > 0 ? EXIT.failedLines : EXIT.ok;
}

const DURATION_UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `500ms`, `2s`, `1m`, `12h`, `30d` (or a bare number of milliseconds) → milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new Error(`expected a duration such as 500ms, 2s, 1m or 30d, got "${text}"`);
  return Math.round(Number(m[1]) * DURATION_UNITS[(m[2] ?? 'ms') as keyof typeof DURATION_UNITS]);
}

/**
 * A point in time as people type it → unix seconds: an ISO date or date-time (`2025-06-01`,
 * `2025-06-01T12:00:00Z`), unix seconds, or a duration before `now` (`7d`: a week ago).
 */
export function parseTime(text: string, nowMs = Date.now()): number {
  const t = text.trim();
  if (/^\d{9,}$/.test(t)) return Number(t);
  if (/^\d+(?:\.\d+)?(ms|s|m|h|d)$/.test(t)) return Math.floor((nowMs - parseDuration(t)) / 1000);
  const ms = /^\d{4}-\d{2}-\d{2}/.test(t) ? Date.parse(t) : Number.NaN;
  if (Number.isNaN(ms)) {
    throw new Error(
      `expected a date (2025-06-01, 2025-06-01T12:00:00Z), unix seconds or a time ago (7d), got "${text}"`,
    );
  }
  return Math.floor(ms / 1000);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  s = Math.round(s);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export const formatCount = (n: number): string => n.toLocaleString('en-US');

/** One argument as a POSIX shell reads it back. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export const shellCommand = (args: string[]): string => args.map(shellQuote).join(' ');

/** Unix seconds as an ISO time; `-` for none. */
export const when = (unix: number | null | undefined): string =>
  unix ? new Date(unix * 1000).toISOString().replace('.000Z', 'Z') : '-';

/** A block of `label  value` rows under a heading (`get` of a batch, a tenant, a key). */
export function describeRows(heading: string, rows: Array<[string, string]>): string {
  return [heading, ...rows.map(([k, v]) => `  ${k.padEnd(12)}${v}`)].join('\n');
}

/**
 * Rows under a header, in columns as wide as their widest cell on a terminal (CJK and emoji count
 * double); `right` names the columns of numbers, aligned on the right.
 */
export function table(header: string[], rows: string[][], right: ReadonlySet<number> = new Set()): string {
  const widths = header.map((h, i) => Math.max(stringWidth(h), ...rows.map((r) => stringWidth(r[i]))));
  return [header, ...rows]
    .map((r) =>
      r
        .map((cell, i) => {
          const pad = ' '.repeat(widths[i] - stringWidth(cell));
          return right.has(i) ? pad + cell : cell + pad;
        })
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `get`'s and a finished watch's human summary. */
export function describeBatch(b: Batch): string {
  const c = b.request_counts ?? { total: 0, completed: 0, failed: 0 };
  const rows: Array<[string, string]> = [
    ['status', b.status],
    ['endpoint', b.endpoint],
    ['window', b.completion_window],
    ['input file', b.input_file_id],
    [
      'requests',
      `${formatCount(c.total)} total, ${formatCount(c.completed)} completed, ${formatCount(c.failed)} failed`,
    ],
    ['output file', b.output_file_id ?? '-'],
    ['error file', b.error_file_id ?? '-'],
    ['created', when(b.created_at)],
  ];
  const ended = b.completed_at ?? b.failed_at ?? b.expired_at ?? b.cancelled_at;
  if (ended) rows.push(['ended', when(ended)]);
  else rows.push(['expires', when(b.expires_at)]);
  if (b.metadata && Object.keys(b.metadata).length > 0) {
    rows.push([
      'metadata',
      Object.entries(b.metadata)
        .map(([k, v]) => `${k}=${v}`)
        .join(' '),
    ]);
  }
  const lines = [describeRows(b.id, rows)];
  for (const e of b.errors?.data ?? []) lines.push(`  ${describeLineError(e)}`);
  return lines.join('\n');
}

/** An error of OpenAI's `{code, message, param, line}` shape, as one line. */
export function describeLineError(e: {
  code?: string | null;
  message?: string | null;
  line?: number | null;
}): string {
  const where = e.line ? `line ${e.line}` : 'file';
  return `${where.padEnd(11)} ${(e.code ?? 'error').padEnd(26)} ${e.message ?? ''}`;
}

/** `ls`: one batch a row. */
export function batchTable(batches: Batch[]): string {
  if (batches.length === 0) return 'No batches.';
  const rows = batches.map((b) => {
    const c = b.request_counts ?? { total: 0, completed: 0, failed: 0 };
    return [
      b.id,
      b.status,
      b.endpoint,
      `${formatCount(c.completed + c.failed)}/${formatCount(c.total)}`,
      formatCount(c.failed),
      when(b.created_at),
    ];
  });
  return table(['ID', 'STATUS', 'ENDPOINT', 'DONE', 'FAILED', 'CREATED'], rows);
}

// Admin API objects ---------------------------------------------------------------------------

/** A tenant limit as people read it: null is the environment's default, 0 no limit at all. */
function describeLimit(key: keyof TenantLimits, limits: TenantLimits): string {
  const v = limits[key];
  if (v === null || v === undefined) return 'default';
  if (key === 'rate_limit_multiplier') return `×${v}`;
  return v === 0 ? 'unlimited' : formatCount(v);
}

export function describeTenant(t: Tenant): string {
  const rows: Array<[string, string]> = [
    ['state', t.disabled ? 'disabled (its keys are refused)' : 'enabled'],
    ['tier', t.tier],
    ['rate limits', describeLimit('rate_limit_multiplier', t.limits)],
    ['token limit', describeLimit('enqueued_token_limit', t.limits)],
    ['max active', describeLimit('max_active_batches', t.limits)],
    ['webhook', t.webhook?.url ?? '-'],
  ];
  if (t.webhook?.secret_rotated_at) rows.push(['secret set', when(t.webhook.secret_rotated_at)]);
  if (t.webhook?.previous_secret_expires_at) {
    rows.push(['old secret', `signs too until ${when(t.webhook.previous_secret_expires_at)}`]);
  }
  rows.push(
    ['source', t.source === 'environment' ? 'environment (API_KEYS)' : t.source],
    ['created', when(t.created_at)],
    ['updated', when(t.updated_at)],
  );
  return describeRows(t.id, rows);
}

export function tenantTable(tenants: Tenant[]): string {
  if (tenants.length === 0) return 'No tenants.';
  return table(
    ['ID', 'STATE', 'TIER', 'RATE', 'TOKEN LIMIT', 'MAX ACTIVE', 'SOURCE', 'WEBHOOK'],
    tenants.map((t) => [
      t.id,
      t.disabled ? 'disabled' : 'enabled',
      t.tier,
      describeLimit('rate_limit_multiplier', t.limits),
      describeLimit('enqueued_token_limit', t.limits),
      describeLimit('max_active_batches', t.limits),
      t.source,
      t.webhook?.url ?? '-',
    ]),
  );
}

function keyState(k: ApiKey, nowMs = Date.now()): string {
  if (k.revoked_at) return 'revoked';
  if (k.expires_at && k.expires_at * 1000 <= nowMs) return 'expired';
  return 'active';
}

export function describeKey(k: ApiKey): string {
  return describeRows(k.id, [
    ['tenant', k.tenant],
    ['name', k.name ?? '-'],
    ['prefix', k.prefix],
    ['state', keyState(k)],
    ['created', when(k.created_at)],
    ['last used', when(k.last_used_at)],
    ['expires', k.expires_at ? when(k.expires_at) : 'never'],
    ...(k.revoked_at ? [['revoked', when(k.revoked_at)] as [string, string]] : []),
  ]);
}

export function keyTable(keys: ApiKey[]): string {
  if (keys.length === 0) return 'No keys.';
  return table(
    ['ID', 'TENANT', 'NAME', 'PREFIX', 'STATE', 'CREATED', 'LAST USED', 'EXPIRES'],
    keys.map((k) => [
      k.id,
      k.tenant,
      k.name ?? '-',
      k.prefix,
      keyState(k),
      when(k.created_at),
      when(k.last_used_at),
      k.expires_at ? when(k.expires_at) : 'never',
    ]),
  );
}

const USAGE_COUNTS = [
  'batches',
  'requests_completed',
  'requests_failed',
  'input_tokens',
  'cached_tokens',
  'output_tokens',
] as const;

/** Usage rows per tenant (and day and/or model), with a total row under several. */
export function usageTable(rows: UsageRow[], groupBy: ReadonlyArray<'day' | 'model'>): string {
  if (rows.length === 0) return 'No usage in this period.';
  const header = [
    'TENANT',
    ...groupBy.map((g) => g.toUpperCase()),
    'BATCHES',
    'COMPLETED',
    'FAILED',
    'INPUT TOKENS',
    'CACHED',
    'OUTPUT TOKENS',
  ];
  const cells = (first: string[], counts: Record<(typeof USAGE_COUNTS)[number], number>) => [
    ...first,
    ...USAGE_COUNTS.map((k) => formatCount(counts[k])),
  ];
  const body = rows.map((r) => cells([r.tenant, ...groupBy.map((g) => r[g] ?? '-')], r));
  if (rows.length > 1) {
    const total = Object.fromEntries(
      USAGE_COUNTS.map((k) => [k, rows.reduce((sum, r) => sum + r[k], 0)]),
    ) as Record<(typeof USAGE_COUNTS)[number], number>;
    body.push(cells(['total', ...groupBy.map(() => '')], total));
  }
  const first = 1 + groupBy.length;
  return table(header, body, new Set(USAGE_COUNTS.map((_, i) => first + i)));
}

export function auditTable(entries: AuditEntry[]): string {
  if (entries.length === 0) return 'No audit entries.';
  return table(
    ['AT', 'ACTOR', 'ACTION', 'TARGET', 'ADDRESS', 'DETAILS'],
    entries.map((e) => [
      when(e.at),
      e.actor,
      e.action,
      e.target,
      e.address ?? '-',
      e.details && Object.keys(e.details).length > 0 ? JSON.stringify(e.details) : '-',
    ]),
  );
}
