/**
 * The `vllm-batch` command line: its commands and options (commander), each command's flow, and the
 * one place that turns an outcome into an exit code and errors into plain messages.
 */
import { Command, CommanderError, Option } from 'commander';
import OpenAI from 'openai';
import { addAdminCommands } from './admin';
import { duration, keyValue, positiveInt } from './args';
import { CliContext, CliIo, GlobalOptions } from './context';
import { CliError, describeApiError, EXIT } from './errors';
import {
  Batch,
  batchTable,
  describeBatch,
  exitCodeOf,
  formatBytes,
  formatCount,
  isTerminal,
  shellCommand,
} from './format';
import { downloadTo, uploadFile } from './transfer';
import { inputFileSize, printValidation, validateFile, ValidateOptions } from './validate';
import { watchBatch } from './watch';

interface FileTargets {
  output?: string;
  errors?: string;
  download?: boolean;
}

interface WatchOptions extends FileTargets {
  interval: number;
}

interface SubmitOptions extends WatchOptions {
  endpoint?: string;
  window: string;
  metadata: Record<string, string>;
  wait?: boolean;
  maxLines?: number;
}

/** Where `download`, `watch` and `submit --wait` write a batch's files unless told otherwise. */
const outputPath = (id: string, o: FileTargets): string => o.output ?? `${id}_output.jsonl`;
const errorsPath = (id: string, o: FileTargets): string => o.errors ?? `${id}_errors.jsonl`;

export function buildProgram(io: CliIo, done: (code: number) => void): Command {
  const program = new Command('vllm-batch');
  let ctx: CliContext | null = null;
  const context = (cmd: Command): CliContext =>
    (ctx ??= new CliContext(io, cmd.optsWithGlobals<GlobalOptions>()));

  program
    .description(
      'Validate, submit and follow batches on a vllm-batch service (OpenAI Batch API), from a terminal or a script.',
    )
    .option('--base-url <url>', 'the API base URL (default: $OPENAI_BASE_URL, else http://127.0.0.1:4080/v1)')
    .option('--api-key <key>', 'an API key of the service (default: $OPENAI_API_KEY)')
    .option('--json', 'print JSON objects on stdout for scripts; no progress bars')
    .addHelpText(
      'after',
      `
Exit codes: 0 completed without a failed line (or the command succeeded), 2 completed with failed
lines, 1 failed, expired, cancelled or an error, 130 detached with Ctrl-C (the batch keeps running).`,
    )
    .showHelpAfterError('(vllm-batch --help lists the commands and options)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });

  const fileOptions = (cmd: Command): Command =>
    cmd
      .option('-o, --output <path>', 'where the output file goes (default: <batch_id>_output.jsonl)')
      .option('-e, --errors <path>', 'where the error file goes (default: <batch_id>_errors.jsonl)');
  const intervalOption = new Option('--interval <duration>', 'how often to poll the batch, e.g. 500ms, 5s')
    .default(2000, '2s')
    .argParser(duration);

  program
    .command('validate')
    .description("check an input file against the service's rules, locally, before any upload")
    .argument('<file>', 'a JSONL file of batch requests')
    .option('--endpoint <path>', "the batch endpoint (default: the first line's url)")
    .option('--server', 'also ask the service: the model must be served, each line must fit its context')
    .option('--max-lines <n>', "the deployment's BATCH_MAX_LINES (default 50000)", positiveInt)
    .option('--max-errors <n>', 'errors to list (default 100)', positiveInt)
    .action(async (file: string, opts: ValidateOptions, cmd: Command) => {
      const c = context(cmd);
      const report = await validateFile(c, file, opts);
      printValidation(c, report);
      done(report.valid ? EXIT.ok : EXIT.error);
    });

  fileOptions(
    program
      .command('submit')
      .description('validate, upload and create a batch; with --wait, follow it and download its files')
      .argument('<file>', 'a JSONL file of batch requests')
      .option('--endpoint <path>', "the batch endpoint (default: the first line's url)")
      .option('--window <window>', 'completion window', '24h')
      .option('--metadata <key=value>', 'metadata on the batch (repeatable)', keyValue, {})
      .option(
        '--max-lines <n>',
        "the deployment's BATCH_MAX_LINES, for the local check (default 50000)",
        positiveInt,
      )
      .option('--wait', 'follow the batch to its end, then download its output and error files'),
  )
    .option('--no-download', 'with --wait: do not download the files at the end')
    .addOption(intervalOption)
    .action(async (file: string, opts: SubmitOptions, cmd: Command) =>
      done(await submit(context(cmd), file, opts)),
    );

  fileOptions(
    program
      .command('watch')
      .description('follow a batch to its end with a live bar, then download its files (Ctrl-C detaches)')
      .argument('<batch_id>'),
  )
    .option('--no-download', 'do not download the files at the end')
    .addOption(intervalOption)
    .action(async (id: string, opts: WatchOptions, cmd: Command) => {
      const c = context(cmd);
      done(await follow(c, await c.client.batches.retrieve(id), opts));
    });

  program
    .command('get')
    .description('show a batch')
    .argument('<batch_id>')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const c = context(cmd);
      const batch = await c.client.batches.retrieve(id);
      if (c.json) c.printJson(batch);
      else c.out(describeBatch(batch));
      done(EXIT.ok);
    });

  program
    .command('ls')
    .description('list your batches, newest first')
    .option('--limit <n>', 'how many', positiveInt, 20)
    .option('--after <batch_id>', 'the page after this batch')
    .action(async (opts: { limit: number; after?: string }, cmd: Command) => {
      const c = context(cmd);
      const page = await c.client.batches.list({
        limit: opts.limit,
        ...(opts.after ? { after: opts.after } : {}),
      });
      const batches = page.data;
      if (c.json) c.printJson({ data: batches, has_more: page.has_more });
      else {
        c.out(batchTable(batches));
        if (page.has_more && batches.length > 0) {
          c.note(`More: vllm-batch ls --after ${batches[batches.length - 1].id}`);
        }
      }
      done(EXIT.ok);
    });

  program
    .command('cancel')
    .description('cancel a batch (its finished lines are kept in its files)')
    .argument('<batch_id>')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const c = context(cmd);
      const batch = await c.client.batches.cancel(id);
      if (c.json) c.printJson(batch);
      else c.out(`${batch.id}: ${batch.status}`);
      done(EXIT.ok);
    });

  fileOptions(
    program
      .command('download')
      .description("write a finished batch's output and error files")
      .argument('<batch_id>'),
  ).action(async (id: string, opts: FileTargets, cmd: Command) => {
    const c = context(cmd);
    const batch = await c.client.batches.retrieve(id);
    if (!isTerminal(batch)) {
      throw new CliError(
        `${id} is ${batch.status}: its files are written when it ends. Follow it with: vllm-batch watch ${id}`,
      );
    }
    done(await c.interruptible((signal) => finish(c, batch, opts, signal)));
  });

  addAdminCommands(program, context, done);
  return program;
}

/** Runs the command line; resolves to the exit code. Never throws. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(io, (c) => (code = c));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return err.exitCode === 0 ? EXIT.ok : EXIT.error;
    }
    const opts = program.opts<GlobalOptions>();
    const baseUrl = new CliContext(io, opts).baseUrl;
    const known = err instanceof CliError ? err : describeApiError(err, baseUrl);
    const failure = known ?? new CliError(`unexpected error: ${(err as Error)?.message ?? String(err)}`);
    if (opts.json) {
      io.stdout.write(
        `${JSON.stringify({ error: { message: failure.message, ...failure.details } }, null, 2)}\n`,
      );
    } else {
      io.stderr.write(`vllm-batch: ${failure.message}\n`);
      if (!known && io.env.VLLM_BATCH_DEBUG) io.stderr.write(`${(err as Error)?.stack}\n`);
    }
    return failure.code;
  }
}

async function submit(ctx: CliContext, file: string, opts: SubmitOptions): Promise<number> {
  const report = await validateFile(ctx, file, { endpoint: opts.endpoint, maxLines: opts.maxLines });
  if (!report.valid) {
    printValidation(ctx, report);
    ctx.note('Nothing was uploaded.');
    return EXIT.error;
  }
  const size = await inputFileSize(file);
  ctx.note(`${file}: ${formatCount(report.requests)} valid request(s), ${formatBytes(size)}; uploading…`);

  const created = await ctx.interruptible(async (signal, interrupted) => {
    let uploaded: OpenAI.Files.FileObject;
    try {
      uploaded = await uploadFile(ctx, file, size, signal);
    } catch (err) {
      if (interrupted())
        throw new CliError('Interrupted during the upload: no batch was created.', EXIT.interrupted);
      throw err;
    }
    ctx.note(`uploaded ${uploaded.id} (${formatBytes(uploaded.bytes)})`);
    return ctx.client.batches.create({
      input_file_id: uploaded.id,
      endpoint: report.endpoint as OpenAI.Batches.BatchCreateParams['endpoint'],
      completion_window: opts.window as OpenAI.Batches.BatchCreateParams['completion_window'],
      ...(Object.keys(opts.metadata).length > 0 ? { metadata: opts.metadata } : {}),
    });
  });

  if (!opts.wait) {
    if (ctx.json) ctx.printJson(created);
    else {
      ctx.out(`${created.id} ${created.status}`);
      ctx.note(`Follow it with: ${resumeCommand(ctx, created.id, opts)}`);
    }
    return EXIT.ok;
  }
  ctx.note(`created ${created.id}`);
  return follow(ctx, created, opts);
}

/** Watches a batch to its end, then downloads its files; Ctrl-C detaches and says how to resume. */
async function follow(ctx: CliContext, batch: Batch, opts: WatchOptions): Promise<number> {
  return ctx.interruptible(async (signal) => {
    const end = await watchBatch(ctx, batch, opts.interval, signal);
    if (end.detached) {
      const resume = resumeCommand(ctx, end.batch.id, opts);
      if (ctx.json) {
        ctx.printJson({ detached: true, id: end.batch.id, status: end.batch.status, resume });
      } else {
        ctx.io.stderr.write(
          `\nDetached from ${end.batch.id} (${end.batch.status}); it keeps running, nothing was cancelled.\n` +
            `Resume with:\n  ${resume}\n`,
        );
      }
      return EXIT.interrupted;
    }
    return finish(ctx, end.batch, opts, signal);
  });
}

/** A finished batch: its files on disk (unless --no-download), a summary, the exit code of its status. */
async function finish(
  ctx: CliContext,
  batch: Batch,
  opts: FileTargets,
  signal: AbortSignal,
): Promise<number> {
  const files: { output: string | null; errors: string | null } = { output: null, errors: null };
  if (opts.download !== false) {
    const targets: Array<['output' | 'errors', string | null | undefined, string]> = [
      ['output', batch.output_file_id, outputPath(batch.id, opts)],
      ['errors', batch.error_file_id, errorsPath(batch.id, opts)],
    ];
    for (const [kind, fileId, path] of targets) {
      if (!fileId) continue;
      try {
        const bytes = await downloadTo(ctx, fileId, path, signal);
        ctx.note(`wrote ${path} (${formatBytes(bytes)}, ${kind} file ${fileId})`);
      } catch (err) {
        if (signal.aborted) {
          throw new CliError(
            `Interrupted during the download of ${path}. Download again with: ${shellCommand([
              'vllm-batch',
              ...baseUrlArgs(ctx),
              'download',
              batch.id,
              ...pathArgs(opts),
            ])}`,
            EXIT.interrupted,
          );
        }
        throw err;
      }
      files[kind] = path;
    }
  }
  const code = exitCodeOf(batch);
  if (ctx.json) ctx.printJson({ batch, files, exit_code: code });
  else {
    ctx.out(describeBatch(batch));
    if (opts.download !== false && !batch.output_file_id && batch.status === 'completed') {
      ctx.note('No output file: every request failed (see the error file).');
    }
  }
  return code;
}

const baseUrlArgs = (ctx: CliContext): string[] => (ctx.baseUrlFlag ? ['--base-url', ctx.baseUrlFlag] : []);

const pathArgs = (opts: FileTargets): string[] => [
  ...(opts.output ? ['--output', opts.output] : []),
  ...(opts.errors ? ['--errors', opts.errors] : []),
  ...(opts.download === false ? ['--no-download'] : []),
];

/** The command that picks a detached watch up again, with the same file targets (never the key). */
function resumeCommand(ctx: CliContext, id: string, opts: FileTargets): string {
  return shellCommand(['vllm-batch', ...baseUrlArgs(ctx), 'watch', id, ...pathArgs(opts)]);
}
