/** Words and numbers for people: batch summaries, sizes, durations, shell-safe commands. */
import type OpenAI from 'openai';
import { EXIT } from './context';

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

/** `500ms`, `2s`, `1m` (or a bare number of milliseconds) → milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new Error(`expected a duration such as 500ms, 2s or 1m, got "${text}"`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
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

const when = (unix: number | null | undefined): string =>
  unix ? new Date(unix * 1000).toISOString().replace('.000Z', 'Z') : '-';

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
  const lines = [b.id, ...rows.map(([k, v]) => `  ${k.padEnd(12)}${v}`)];
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
  const header = ['ID', 'STATUS', 'ENDPOINT', 'DONE', 'FAILED', 'CREATED'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows]
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
