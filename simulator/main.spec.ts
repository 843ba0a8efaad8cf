import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { optionsFromEnv } from './main';

describe('optionsFromEnv', () => {
  it('defaults to port 8000 on 127.0.0.1', () => {
    expect(optionsFromEnv({})).toEqual({ port: 8000, host: '127.0.0.1' });
  });

  it('reads every SIM_* variable', () => {
    const o = optionsFromEnv({
      SIM_PORT: '0',
      SIM_HOST: '0.0.0.0',
      SIM_MODELS: 'a, b',
      SIM_MAX_MODEL_LEN: '8192',
      SIM_BLOCK_SIZE: '32',
      SIM_NUM_GPU_BLOCKS: '1000',
      SIM_MAX_NUM_SEQS: '64',
      SIM_STEP_BASE_MS: '5',
      SIM_STEP_PER_SEQ_MS: '0.1',
      SIM_STEP_PER_PREFILL_TOKEN_MS: '0.02',
      SIM_INSTANT: 'yes',
      SIM_PRIORITY_SCHEDULING: 'true',
      SIM_MAX_WAITING: '100',
      SIM_DEFAULT_MAX_TOKENS: '32',
      SIM_OUTPUT_TOKENS: '8',
      SIM_OUTPUT_TOKENS_MAX: '80',
      SIM_METRICS: '0',
      SIM_LEGACY_METRIC_NAMES: 'on',
      SIM_ASCII_ONLY: 'true',
      SIM_ERROR_FORMAT: 'nested',
      SIM_SEED: '7',
      SIM_UNSUPPORTED_ENDPOINTS: '/v1/score, /v1/rerank',
      SIM_FAIL_RATE: '0.1',
      SIM_HANG_RATE: '0.01',
      SIM_429_RATE: '0.2',
      SIM_EXTRA_LATENCY_MS: '15',
      SIM_OUTAGE_MS: '1000',
      SIM_OUTAGE_MODE: '503',
    });
    expect(o).toEqual({
      port: 0,
      host: '0.0.0.0',
      models: ['a', 'b'],
      maxModelLen: 8192,
      blockSize: 32,
      numGpuBlocks: 1000,
      maxNumSeqs: 64,
      stepBaseMs: 5,
      stepPerSeqMs: 0.1,
      stepPerPrefillTokenMs: 0.02,
      instant: true,
      priorityScheduling: true,
      maxWaiting: 100,
      defaultMaxTokens: 32,
      outputTokens: 8,
      outputTokensMax: 80,
      metrics: false,
      legacyMetricNames: true,
      asciiOnly: true,
      errorFormat: 'nested',
      seed: 7,
      unsupportedEndpoints: ['/v1/score', '/v1/rerank'],
      faults: {
        failRate: 0.1,
        hangRate: 0.01,
        status429Rate: 0.2,
        extraLatencyMs: 15,
        outageMs: 1000,
        outageMode: '503',
      },
    });
  });

  it('rejects bad values with the variable name', () => {
    expect(() => optionsFromEnv({ SIM_PORT: 'eighty' })).toThrow(/SIM_PORT/);
    expect(() => optionsFromEnv({ SIM_FAIL_RATE: '2' })).toThrow(/SIM_FAIL_RATE must be a number >= 0 <= 1/);
    expect(() => optionsFromEnv({ SIM_INSTANT: 'maybe' })).toThrow(/SIM_INSTANT/);
    expect(() => optionsFromEnv({ SIM_OUTAGE_MODE: 'down' })).toThrow(/SIM_OUTAGE_MODE/);
    expect(() => optionsFromEnv({ SIM_ERROR_FORMAT: 'xml' })).toThrow(/SIM_ERROR_FORMAT/);
    expect(() => optionsFromEnv({ SIM_MODELS: ' , ' })).toThrow(/SIM_MODELS/);
  });
});

describe('CLI', () => {
  it('starts, logs one line, serves /health and stops on SIGTERM', async () => {
    const tsNode = require.resolve('ts-node/dist/bin.js');
    const child = spawn(process.execPath, [tsNode, '--transpile-only', path.join(__dirname, 'main.ts')], {
      env: { ...process.env, SIM_PORT: '0', SIM_STEP_BASE_MS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on (http:\/\/\S+)\/v1/.exec(out);
        if (m) resolve(m[1]);
      });
      child.once('exit', (code) => reject(new Error(`exited ${String(code)}: ${out}`)));
    });
    expect((await fetch(url + '/health')).status).toBe(200);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 30_000);
});
