/**
 * `vllm-batch validate`: the service's own input rules (domain/batches: the same code the worker runs
 * on an uploaded file), applied to a local file before anything is uploaded. With --server, the
 * checks that need the service too: the model must be one it serves, and each line's token estimate
 * must fit that model's context.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { BatchEndpoint, isKnownBatchEndpoint, KNOWN_BATCH_ENDPOINTS } from '../common/batch-endpoints';
import type { BatchErrorItem } from '../domain/batches/batch.entity';
import { checkInputFile, modelNotServed } from '../domain/batches/input-file-check';
import { readJsonlLines } from '../domain/batches/jsonl-reader';
import { parseInputLine } from '../domain/batches/line-validator';
import { CliContext } from './context';
import { CliError } from './errors';
import { describeLineError, formatCount } from './format';

/**
 * The service's defaults (BATCH_MAX_LINES, BATCH_MAX_ERRORS_REPORTED, BATCH_DEFAULT_MAX_TOKENS); a
 * deployment may set others, which the API does not expose, hence the flags.
 */
export const SERVICE_DEFAULTS = { maxLines: 50_000, maxErrors: 100, defaultMaxTokens: 1024 };

export interface ValidateOptions {
  endpoint?: string;
  server?: boolean;
  maxLines?: number;
  maxErrors?: number;
}

export interface ValidationReport {
  file: string;
  bytes: number;
  endpoint: BatchEndpoint;
  valid: boolean;
  requests: number;
  model: string | null;
  /** The tokens the file enqueues by the service's estimate (what the enqueued-token limit counts). */
  estimated_tokens: number | null;
  errors: BatchErrorItem[];
  /** Findings that do not fail the file but will likely fail lines (a prompt longer than the context). */
  warnings: BatchErrorItem[];
  /** Whether the server's checks ran, and the models it serves. */
  server: { checked: boolean; models: string[] | null };
}

/** The endpoint named by --endpoint, else the first line's `url`, else chat completions. */
export async function resolveEndpoint(file: string, flag: string | undefined): Promise<BatchEndpoint> {
  if (flag !== undefined) {
    if (!isKnownBatchEndpoint(flag)) {
      throw new CliError(`Unknown endpoint '${flag}'. Known: ${KNOWN_BATCH_ENDPOINTS.join(', ')}.`);
    }
    return flag;
  }
  const stream = createReadStream(file);
  try {
    for await (const item of readJsonlLines(stream)) {
      if ('tooLong' in item) break;
      const line = parseInputLine(item.text);
      const url = line.ok ? line.fields.url : undefined;
      if (typeof url === 'string' && isKnownBatchEndpoint(url)) return url;
      break;
    }
  } finally {
    stream.destroy();
  }
  return '/v1/chat/completions';
}

/** Stats the input file, turning a missing or unreadable file into a plain message. */
export async function inputFileSize(file: string): Promise<number> {
  try {
    const s = await stat(file);
    if (!s.isFile()) throw new CliError(`${file} is not a file.`);
    return s.size;
  } catch (err) {
    if (err instanceof CliError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' ? `${file}: no such file.` : `${file}: ${(err as Error).message}`);
  }
}

export async function validateFile(
  ctx: CliContext,
  file: string,
  options: ValidateOptions,
): Promise<ValidationReport> {
  const bytes = await inputFileSize(file);
  const endpoint = await resolveEndpoint(file, options.endpoint);
  const maxErrors = options.maxErrors ?? SERVICE_DEFAULTS.maxErrors;
  // Per-line estimates are kept only when the server's context lengths will be compared with them.
  const lineTokens: Array<[line: number, tokens: number]> = [];
  const stream = createReadStream(file);
  let check;
  try {
    check = await checkInputFile(readJsonlLines(stream), {
      endpoint,
      maxLines: options.maxLines ?? SERVICE_DEFAULTS.maxLines,
      maxErrors,
      defaultMaxTokens: SERVICE_DEFAULTS.defaultMaxTokens,
      onLineTokens: options.server ? (line, tokens) => lineTokens.push([line, tokens]) : undefined,
    });
  } catch (err) {
    throw new CliError(`${file}: ${(err as Error).message}`);
  } finally {
    stream.destroy();
  }
  const report: ValidationReport = {
    file,
    bytes,
    endpoint,
    valid: check.ok,
    requests: check.requests,
    model: check.ok ? check.model : null,
    estimated_tokens: check.ok ? check.estimatedTokens : null,
    errors: check.ok ? [] : check.errors,
    warnings: [],
    server: { checked: false, models: null },
  };
  if (!options.server) return report;

  const served = await servedModels(ctx);
  report.server = { checked: true, models: served.map((m) => m.id).sort() };
  if (!check.ok) return report;
  const model = served.find((m) => m.id === check.model);
  if (!model) {
    report.valid = false;
    report.errors = [modelNotServed(check.model, report.server.models ?? [], check.modelFirstLine)];
    return report;
  }
  const context = model.max_model_len;
  if (typeof context === 'number' && context > 0) {
    for (const [line, tokens] of lineTokens) {
      if (tokens <= context) continue;
      if (report.warnings.length >= maxErrors) break;
      report.warnings.push({
        code: 'context_length_exceeded',
        message: `Line ${line}: about ${formatCount(tokens)} tokens (prompt estimate plus output limit) against the ${formatCount(context)}-token context of '${model.id}'; vLLM will likely refuse it and the line will fail.`,
        param: 'body',
        line,
      });
    }
  }
  return report;
}

interface ServedModel {
  id: string;
  /** vLLM's extension to OpenAI's Model object, passed on by the service. */
  max_model_len?: number;
}

async function servedModels(ctx: CliContext): Promise<ServedModel[]> {
  const models: ServedModel[] = [];
  for await (const m of ctx.client.models.list()) models.push(m as ServedModel);
  return models;
}

export function printValidation(ctx: CliContext, r: ValidationReport): void {
  if (ctx.json) return ctx.printJson(r);
  const lines: string[] = [];
  if (r.valid) {
    lines.push(
      `${r.file}: valid — ${formatCount(r.requests)} request(s) for ${r.endpoint}, model ${r.model}, about ${formatCount(r.estimated_tokens ?? 0)} tokens enqueued.`,
    );
  } else {
    const n = r.errors.filter((e) => e.code !== 'too_many_errors').length;
    lines.push(
      `${r.file}: invalid — ${n} error(s) in ${formatCount(r.requests)} request(s) for ${r.endpoint}:`,
    );
    for (const e of r.errors) lines.push(`  ${describeLineError(e)}`);
  }
  for (const w of r.warnings) lines.push(`  warning: ${describeLineError(w)}`);
  if (r.server.checked)
    lines.push(`  checked against the server: it serves ${r.server.models?.join(', ') || 'no model now'}.`);
  else if (r.valid) lines.push('  (model and context checks need the server: add --server)');
  ctx.out(lines.join('\n'));
}
