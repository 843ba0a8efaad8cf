/**
 * The `vllm-batch` command line, run as the built process a user runs, against the real app and the
 * vLLM simulator: local validation that reports what the service reports, submit → watch → download
 * with files identical to what the API serves, exit codes, --json shapes, Ctrl-C that detaches
 * without cancelling, and plain messages for the errors people meet (no stack traces).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toFile } from 'openai';
import { chatLine, Json, LineSpec, toJsonl, uploadBatchFile, waitForBatch } from '../support/batch-helpers';
import { FAST_RETRIES, fixedInflight, RELAXED_LIMITS, useApp } from '../support/app-fixture';
import { ensureBuilt, freePort, TENANT_A, until } from '../support/harness';
import { CliProcess, CliResult, jsonOf, runCli } from './run-cli';
import { Terminal } from './terminal';

const SIM = { stepBaseMs: 2, stepPerSeqMs: 0.01, outputTokens: 4 };
/** Text as models and users write it: accents, CJK, RTL, emoji with joiners. */
const MULTIBYTE = 'héllo wörld — 日本語のテキスト 👩‍💻 مرحبا 🇫🇷';
/** Longer than the simulator's 4096-token context: vLLM answers 400, the line fails. */
const TOO_LONG = 'word '.repeat(5000);
/** A line asking for 2000 tokens then takes 100 s: long enough to still be running when looked at. */
const SLOW = { stepBaseMs: 50, outputTokens: null };

describe('vllm-batch CLI (the built command against the app and the simulator)', () => {
  const { app, a, sim } = useApp({
    simulator: SIM,
    env: { ...fixedInflight(16), ...FAST_RETRIES, ...RELAXED_LIMITS },
  });
  let dir: string;
  let env: Record<string, string>;
  const path = (name: string) => join(dir, name);
  const cli = (...args: string[]): Promise<CliResult> => runCli(args, env, dir);

  beforeAll(async () => {
    ensureBuilt();
    dir = await mkdtemp(join(tmpdir(), 'vllm-batch-cli-'));
    env = { OPENAI_BASE_URL: `${app.url}/v1`, OPENAI_API_KEY: TENANT_A.key };
    // The catalogue is filled by the worker from the simulator's /v1/models.
    await until(
      async () => (await a.models.list()).data.some((m) => m.id === 'sim-model'),
      30_000,
      'sim-model',
    );
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
  beforeEach(() => sim.setOptions(SIM));

  const write = async (name: string, content: string | Buffer): Promise<string> => {
    await writeFile(path(name), content);
    return path(name);
  };

  /** What the service says of the same bytes: a batch created from them, once it has settled. */
  const serviceVerdict = async (content: string | Buffer) => {
    const file = await a.files.create({
      file: await toFile(Buffer.from(content), 'input.jsonl'),
      purpose: 'batch',
    });
    const batch = await a.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    return waitForBatch(a, batch.id);
  };

  const content = async (fileId: string | null | undefined): Promise<Buffer> =>
    Buffer.from(await (await a.files.content(fileId!)).arrayBuffer());

  describe('validate', () => {
    it('accepts a file with a BOM, CRLF line ends, blank lines and multi-byte text, with no server at all', async () => {
      const lines = [0, 1, 2].map((i) => JSON.stringify(chatLine(`q-${i}`, `${MULTIBYTE} ${i}`)));
      const file = await write('good.jsonl', `\ufeff${lines[0]}\r\n\r\n${lines[1]}\r\n${lines[2]}`);
      // Nothing listens here: validation is local.
      const offline = { ...env, OPENAI_BASE_URL: `http://127.0.0.1:${await freePort()}/v1` };

      const human = await runCli(['validate', file], offline);
      expect(human.code).toBe(0);
      expect(human.stdout).toContain('valid — 3 request(s) for /v1/chat/completions, model sim-model');

      const json = await runCli(['validate', file, '--json'], offline);
      expect(json.code).toBe(0);
      expect(jsonOf(json)).toEqual({
        file,
        bytes: Buffer.byteLength(await readFile(file)),
        endpoint: '/v1/chat/completions',
        valid: true,
        requests: 3,
        model: 'sim-model',
        estimated_tokens: expect.any(Number),
        errors: [],
        warnings: [],
        server: { checked: false, models: null },
      });
    });

    it('reports exactly the errors the service reports for the same file, with line numbers and codes', async () => {
      const good = chatLine('ok-1', MULTIBYTE);
      const body = good.body as Record<string, unknown>;
      const lines: Array<LineSpec | string> = [
        good,
        'not json at all',
        '[1, 2]',
        JSON.stringify({ method: 'POST', url: '/v1/chat/completions', body }),
        { ...chatLine('m', 'x'), method: 'GET' },
        { ...chatLine('u', 'x'), url: '/v1/embeddings' },
        chatLine('s', 'x', { stream: true }),
        chatLine('ok-1', 'a duplicate'),
        chatLine('other', 'x', { model: 'another-model' }),
        { custom_id: 'nm', method: 'POST', url: '/v1/chat/completions', body: { messages: [] } },
      ];
      // A BOM, CRLF and a blank line: line numbers count physical lines as an editor shows them.
      const text = `\ufeff${toJsonl(lines.slice(0, 3)).replace(/\n/g, '\r\n')}\r\n${toJsonl(lines.slice(3))}`;
      const file = await write('bad.jsonl', text);

      const res = await cli('validate', file, '--json');
      expect(res.code).toBe(1);
      const report = jsonOf<Json>(res);
      expect(report.valid).toBe(false);
      const service = await serviceVerdict(text);
      expect(service.status).toBe('failed');
      expect(report.errors).toEqual(service.errors!.data);
      expect(report.errors.map((e: Json) => [e.line, e.code])).toEqual([
        [2, 'invalid_json_line'],
        [3, 'invalid_json_line'],
        [5, 'missing_required_parameter'],
        [6, 'invalid_request'],
        [7, 'invalid_url'],
        [8, 'streaming_unsupported'],
        [9, 'duplicate_custom_id'],
        [10, 'mismatched_model'],
        [11, 'missing_required_parameter'],
      ]);

      const human = await cli('validate', file);
      expect(human.code).toBe(1);
      expect(human.stdout).toContain('invalid — 9 error(s) in 10 request(s)');
      expect(human.stdout).toMatch(/line 7 +invalid_url +Line 7: the url '\/v1\/embeddings'/);
    });

    it('with --server: a model the service does not serve is model_not_found, as the service says', async () => {
      const text = toJsonl([chatLine('x', MULTIBYTE, { model: 'no-such-model' })]);
      const file = await write('unknown-model.jsonl', text);

      const local = await cli('validate', file);
      expect(local.code).toBe(0);

      const res = await cli('validate', file, '--server', '--json');
      expect(res.code).toBe(1);
      const report = jsonOf<Json>(res);
      expect(report.server).toEqual({ checked: true, models: ['sim-model'] });
      expect(report.errors).toEqual((await serviceVerdict(text)).errors!.data);
      expect(report.errors).toEqual([expect.objectContaining({ code: 'model_not_found', line: 1 })]);
    });

    it("with --server: warns of a line longer than the model's context (it would fail upstream)", async () => {
      const file = await write('long.jsonl', toJsonl([chatLine('short', 'hi'), chatLine('long', TOO_LONG)]));
      const res = await cli('validate', file, '--server', '--json');
      expect(res.code).toBe(0);
      const report = jsonOf<Json>(res);
      expect(report.valid).toBe(true);
      expect(report.warnings).toEqual([
        expect.objectContaining({ code: 'context_length_exceeded', line: 2, param: 'body' }),
      ]);
      expect((await cli('validate', file, '--server')).stdout).toMatch(
        /warning: line 2 +context_length_exceeded/,
      );
    });
  });

  describe('submit', () => {
    it('--wait: exit 2 with failed lines; the output and error files are byte for byte what the API serves', async () => {
      const lines = [
        ...Array.from({ length: 8 }, (_, i) => chatLine(`ok-${i}`, `${MULTIBYTE} #${i}`)),
        chatLine('too-long', TOO_LONG),
      ];
      const file = await write('mixed.jsonl', toJsonl(lines));
      const res = await cli(
        'submit',
        file,
        '--wait',
        '--interval',
        '100ms',
        '-o',
        'out.jsonl',
        '-e',
        'err.jsonl',
      );
      expect(res.code).toBe(2);
      const id = /^(batch_\w+)$/m.exec(res.stdout)?.[1];
      expect(id).toBeDefined();
      const batch = await a.batches.retrieve(id!);
      expect(batch).toMatchObject({
        status: 'completed',
        request_counts: { total: 9, completed: 8, failed: 1 },
      });
      expect(res.stdout).toContain('requests    9 total, 8 completed, 1 failed');
      expect(res.stderr).toContain(`wrote out.jsonl`);
      expect(await readFile(path('out.jsonl'))).toEqual(await content(batch.output_file_id));
      expect(await readFile(path('err.jsonl'))).toEqual(await content(batch.error_file_id));
      expect(existsSync(path('out.jsonl.part'))).toBe(false);
    });

    it('--json --wait: one object with the batch, the files written and exit code 0; metadata passed on', async () => {
      const file = await write('all-good.jsonl', toJsonl([chatLine('a', MULTIBYTE), chatLine('b', 'plain')]));
      const res = await cli(
        '--json',
        'submit',
        file,
        '--wait',
        '--interval',
        '100ms',
        '--metadata',
        'team=nlp',
        '--metadata',
        `note=${MULTIBYTE}`,
      );
      expect(res.code).toBe(0);
      const out = jsonOf<Json>(res);
      const id = out.batch.id;
      expect(out).toEqual({
        batch: expect.objectContaining({
          id,
          status: 'completed',
          endpoint: '/v1/chat/completions',
          request_counts: { total: 2, completed: 2, failed: 0 },
          metadata: { team: 'nlp', note: MULTIBYTE },
        }),
        files: { output: `${id}_output.jsonl`, errors: null },
        exit_code: 0,
      });
      expect(await readFile(path(`${id}_output.jsonl`))).toEqual(await content(out.batch.output_file_id));
      // Nothing but the JSON document on stdout, and no bar or note on stderr either.
      expect(res.stderr).toBe('');
    });

    it('refuses an invalid file before uploading anything', async () => {
      const before = (await a.files.list()).data.length;
      const file = await write('invalid.jsonl', toJsonl([chatLine('a', 'x'), 'oops']));
      const res = await cli('submit', file, '--wait');
      expect(res.code).toBe(1);
      expect(res.stdout).toMatch(/line 2 +invalid_json_line/);
      expect(res.stderr).toContain('Nothing was uploaded.');
      expect((await a.files.list()).data.length).toBe(before);
    });

    it('without --wait prints the batch; watch follows it; a batch the service fails exits 1', async () => {
      const file = await write('unserved.jsonl', toJsonl([chatLine('a', 'x', { model: 'no-such-model' })]));
      const created = await cli('--json', 'submit', file);
      expect(created.code).toBe(0);
      const batch = jsonOf<Json>(created);
      expect(batch).toMatchObject({ object: 'batch', id: expect.stringMatching(/^batch_/) });

      const watched = await cli('watch', batch.id, '--interval', '100ms');
      expect(watched.code).toBe(1);
      expect(watched.stdout).toContain('status      failed');
      expect(watched.stdout).toMatch(/line 1 +model_not_found/);
    });
  });

  describe('get, ls, cancel, download', () => {
    let done: Json;
    beforeAll(async () => {
      const id = await uploadBatchFile(a, toJsonl([chatLine('g1', MULTIBYTE), chatLine('g2', TOO_LONG)]));
      const b = await a.batches.create({
        input_file_id: id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
      done = await waitForBatch(a, b.id);
    });

    it('get and ls: the API objects with --json, a summary and a table without', async () => {
      const got = await cli('--json', 'get', done.id);
      expect(got.code).toBe(0);
      expect(jsonOf(got)).toEqual(JSON.parse(JSON.stringify(await a.batches.retrieve(done.id))));
      expect((await cli('get', done.id)).stdout).toMatch(new RegExp(`^${done.id}\\n  status +completed`));

      const listed = jsonOf<Json>(await cli('--json', 'ls', '--limit', '100'));
      expect(listed.data.map((b: Json) => b.id)).toContain(done.id);
      expect(listed).toHaveProperty('has_more');
      expect((await cli('ls')).stdout).toMatch(
        new RegExp(`${done.id} +completed +/v1/chat/completions +2/2 +1`),
      );
    });

    it('download writes both files (exit 2: a line failed); a running batch has nothing to download', async () => {
      const res = await cli('download', done.id, '--output', 'dl-out.jsonl', '--errors', 'dl-err.jsonl');
      expect(res.code).toBe(2);
      expect(await readFile(path('dl-out.jsonl'))).toEqual(await content(done.output_file_id));
      expect(await readFile(path('dl-err.jsonl'))).toEqual(await content(done.error_file_id));

      sim.setOptions(SLOW);
      const slow = await a.batches.create({
        input_file_id: await uploadBatchFile(a, toJsonl([chatLine('s', 'x', { max_tokens: 2000 })])),
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
      const early = await cli('download', slow.id);
      expect(early.code).toBe(1);
      expect(early.stderr).toMatch(/is (validating|in_progress): its files are written when it ends/);

      const cancelled = await cli('--json', 'cancel', slow.id);
      expect(cancelled.code).toBe(0);
      expect(jsonOf(cancelled)).toMatchObject({ id: slow.id, status: expect.stringMatching(/^cancell/) });
      expect((await waitForBatch(a, slow.id)).status).toBe('cancelled');
      // Cancelling a finished batch is the API's 409, said plainly.
      const again = await cli('cancel', done.id);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/^vllm-batch: 409/);
      expect(again.stderr).not.toMatch(/\n\s+at /);
    });
  });

  it('Ctrl-C during submit --wait detaches: the batch keeps running and the resume command is printed', async () => {
    sim.setOptions(SLOW);
    const lines = Array.from({ length: 4 }, (_, i) => chatLine(`slow-${i}`, MULTIBYTE, { max_tokens: 2000 }));
    const file = await write('slow.jsonl', toJsonl(lines));
    const proc = new CliProcess(
      ['submit', file, '--wait', '--interval', '100ms', '--output', 'slow out.jsonl'],
      env,
      dir,
    );
    try {
      await proc.waitForStderr(/Watching batch_\w+/);
      const id = /Watching (batch_\w+)/.exec(proc.stderr)![1];
      proc.interrupt();
      const res = await proc.exited;
      expect(res.code).toBe(130);
      expect(res.stderr).toContain(`Detached from ${id}`);
      expect(res.stderr).toContain(`vllm-batch watch ${id} --output 'slow out.jsonl'`);
      const after = await a.batches.retrieve(id);
      expect(['validating', 'in_progress']).toContain(after.status);
      expect(after.cancelled_at).toBeNull();
      expect(existsSync(path('slow out.jsonl'))).toBe(false);
      await a.batches.cancel(id);
      await waitForBatch(a, id);
    } finally {
      proc.kill();
    }
  });

  describe('on a real terminal (tmux)', () => {
    let term: Terminal;
    beforeEach(() => (term = new Terminal(dir, env)));
    afterEach(() => term.close());

    /** The live bar of `total` lines on a screen: its status and done count, or null when not drawn. */
    const barOn = (screen: string, total: number): { status: string; done: number } | null => {
      const m = new RegExp(
        `(validating|in_progress|finalizing) +\\S* (\\d+)/${total} done \\| \\d+ failed \\| [\\d.]+/s \\| ETA \\S+`,
      ).exec(screen);
      return m ? { status: m[1], done: Number(m[2]) } : null;
    };

    it('submit --wait --output draws a live bar whose done count grows, then writes every result once', async () => {
      // 96 lines of 40 tokens at 50 ms a step, 16 at a time: about six waves of two seconds each.
      sim.setOptions({ stepBaseMs: 50, outputTokens: 40 });
      const ids = Array.from({ length: 96 }, (_, i) => `行-${i}`);
      const file = await write(
        'terminal.jsonl',
        toJsonl(ids.map((id) => chatLine(id, MULTIBYTE, { max_tokens: 40 }))),
      );
      term.run('submit', ['submit', file, '--wait', '--interval', '200ms', '--output', 'terminal out.jsonl']);

      const counts: number[] = [];
      await until(
        () => {
          const bar = barOn(term.screen('submit'), 96);
          if (bar?.status === 'in_progress' && bar.done < 96 && bar.done !== counts[counts.length - 1]) {
            counts.push(bar.done);
          }
          return counts.length >= 3;
        },
        60_000,
        'three different done counts on the bar',
        100,
      );
      // Each capture shows more lines done than the one before: the bar moves forward, never back.
      expect(counts).toEqual([...counts].sort((x, y) => x - y));

      expect(await term.exitCode('submit')).toBe(0);
      const end = term.screen('submit', true);
      expect(end).toMatch(/96\/96 done \| 0 failed/);
      expect(end).toContain('wrote terminal out.jsonl');
      expect(end).toMatch(/requests +96 total, 96 completed, 0 failed/);
      const written = (await readFile(path('terminal out.jsonl'), 'utf8'))
        .split('\n')
        .filter((line) => line.length > 0)
        .map((line) => JSON.parse(line) as Json);
      expect(written.map((r) => r.custom_id).sort()).toEqual([...ids].sort());
      expect(written.every((r) => r.response?.status_code === 200)).toBe(true);
    });

    it('the bar of watch moves, Ctrl-C detaches, and the printed command resumes to the end', async () => {
      // 64 lines of 60 tokens at 50 ms a step, 16 at a time: seconds of visible progress.
      sim.setOptions({ stepBaseMs: 50, outputTokens: 60 });
      const lines = Array.from({ length: 64 }, (_, i) => chatLine(`t-${i}`, MULTIBYTE, { max_tokens: 60 }));
      const b = await a.batches.create({
        input_file_id: await uploadBatchFile(a, toJsonl(lines)),
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
      try {
        term.run('watch', ['watch', b.id, '--interval', '100ms', '--no-download']);
        const seen = new Set<number>();
        await until(
          () => {
            const bar = barOn(term.screen('watch'), 64);
            if (bar && bar.done < 64) seen.add(bar.done);
            return seen.size >= 2;
          },
          30_000,
          'the bar to move on the terminal',
          50,
        );
        term.sendKeys('watch', 'C-c');
        expect(await term.exitCode('watch')).toBe(130);
        const screen = term.screen('watch', true);
        expect(screen).toContain(`Detached from ${b.id}`);
        expect(screen).toContain(`vllm-batch watch ${b.id} --no-download`);
        expect((await a.batches.retrieve(b.id)).status).toBe('in_progress');

        // The printed command picks the batch up again and follows it to the end.
        const resume = /Resume with:\n {2}vllm-batch (.*)\n/.exec(screen)![1].split(' ');
        term.run('resume', [...resume, '--interval', '100ms']);
        expect(await term.exitCode('resume')).toBe(0);
        expect(term.screen('resume')).toMatch(
          new RegExp(`64/64 done \\| 0 failed .*\\n${b.id}\\n  status +completed\\n`),
        );
      } finally {
        await a.batches.cancel(b.id).catch(() => undefined);
        await waitForBatch(a, b.id);
      }
    });
  });

  describe('errors people meet are one plain line and exit 1', () => {
    it('connection refused', async () => {
      const url = `http://127.0.0.1:${await freePort()}/v1`;
      const res = await runCli(['ls'], { ...env, OPENAI_BASE_URL: url });
      expect(res.code).toBe(1);
      expect(res.stderr).toBe(
        `vllm-batch: Cannot reach the batch service at ${url} (connection refused). Is it running? Set --base-url or OPENAI_BASE_URL.\n`,
      );
      const json = await runCli(['--json', '--base-url', url, 'get', 'batch_x'], env);
      expect(json.code).toBe(1);
      expect(jsonOf(json)).toEqual({
        error: expect.objectContaining({ type: 'connection_error', code: 'ECONNREFUSED' }),
      });
    });

    it('a wrong key (401), an unknown batch (404), a missing file, a wrong flag', async () => {
      const unauthorized = await runCli(['ls'], { ...env, OPENAI_API_KEY: 'sk-wrong' });
      expect(unauthorized.code).toBe(1);
      expect(unauthorized.stderr).toMatch(
        /^vllm-batch: 401 invalid_api_key: .*Set OPENAI_API_KEY or --api-key/,
      );

      const missing = await cli('--json', 'get', 'batch_doesnotexist');
      expect(missing.code).toBe(1);
      expect(jsonOf(missing)).toEqual({ error: expect.objectContaining({ status: 404 }) });

      const noFile = await cli('validate', 'nope.jsonl');
      expect(noFile).toMatchObject({ code: 1, stderr: 'vllm-batch: nope.jsonl: no such file.\n' });

      const badFlag = await cli('submit', 'x.jsonl', '--interval', 'soon');
      expect(badFlag.code).toBe(1);
      expect(badFlag.stderr).toMatch(/option '--interval <duration>' argument 'soon' is invalid/);
      for (const r of [unauthorized, missing, noFile, badFlag]) expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  });
});
