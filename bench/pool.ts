/**
 * Benchmarks of a pool of vLLM replicas (the issue "Many vLLMs, one API"). Every replica is a
 * KV-bound simulator process (prefill-heavy lines: the KV cache, not decode, bounds each one's
 * running batch); every ratio is against direct clients measured in the same run.
 *
 *   pool2       two equal replicas of one model: batch rate ÷ the sum of each replica's best direct rate
 *   poolunequal one replica with half the KV cache: the same ratio, and the split of lines
 *   poolkill    one replica SIGKILLed at 30 % of a 3,000-line batch: 0 failed, each custom_id once, time lost
 *   poolmodels  two models on two replicas, one batch each at the same time: each ÷ its own best direct rate
 *   poolfair    a 50-line batch of another tenant while a 6,000-line batch runs, on one replica and on two
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI from 'openai';
import {
  createTestEnv,
  ServiceProcess,
  SimulatorProcess,
  startSimulator,
  TENANT_A,
  TENANT_B,
  UNTHROTTLED,
} from '../test/support/harness';
import { benchService, fmt, SIM_PORT, sdk, tempDir, writeShapedChatFile } from './common';
import { bodiesOf, directRun, runBatch } from './concurrency';

const PROMPT_TOKENS = 464;
const MAX_TOKENS = 16;
const BLOCKS = Number(process.env.BENCH_POOL_BLOCKS ?? 1024);
const STEP_MS = process.env.BENCH_KV_STEP_MS ?? '20';
const LINES = Number(process.env.BENCH_POOL_LINES ?? 3000);

/** A KV-bound replica serving `models`, on SIM_PORT + index. */
function replica(index: number, blocks: number, models = 'sim-model'): Promise<SimulatorProcess> {
  return startSimulator(
    { SIM_NUM_GPU_BLOCKS: String(blocks), SIM_STEP_BASE_MS: STEP_MS, SIM_MODELS: models },
    `bench-replica-${index}`,
    { port: SIM_PORT + index, inheritEnv: true, output: { console: { stdout: false } } },
  );
}

/** The best rate of a direct client over a sweep of concurrencies around the replica's knee. */
async function bestDirect(sim: SimulatorProcess, bodies: string[], blocks: number): Promise<number> {
  return (await bestDirectAt(sim, bodies, blocks)).rate;
}

async function bestDirectAt(
  sim: SimulatorProcess,
  bodies: string[],
  blocks: number,
): Promise<{ rate: number; concurrency: number }> {
  const knee = Math.floor((blocks * 16) / (PROMPT_TOKENS + MAX_TOKENS));
  let best = { rate: 0, concurrency: knee };
  const rates: string[] = [];
  for (const f of [1, 1.12, 1.25, 2]) {
    const c = Math.max(1, Math.round(f * knee));
    await sim.reset();
    const rate = await directRun(sim.url, bodies, c);
    rates.push(`${c}: ${fmt(rate)}`);
    if (rate > best.rate) best = { rate, concurrency: c };
  }
  console.log(`direct client on ${sim.url} (${blocks} blocks), req/s by concurrency: ${rates.join(', ')}`);
  return best;
}

/** The service (all roles in one process) over `sims`, with tenant keys; closes everything after `body`. */
async function withService<T>(
  sims: SimulatorProcess[],
  body: (svc: ServiceProcess, a: OpenAI, b: OpenAI) => Promise<T>,
  env: Record<string, string> = {},
): Promise<T> {
  const iso = await createTestEnv({ ...UNTHROTTLED }, 'bench_pool');
  const svc = await benchService('all', {
    ...iso.env,
    VLLM_ENDPOINTS: sims.map((s) => s.url).join(','),
    ...env,
  });
  try {
    return await body(svc, sdk(svc.url, TENANT_A.key), sdk(svc.url, TENANT_B.key));
  } finally {
    await svc.proc.stop();
    await iso.dispose();
  }
}

async function shapedFile(name: string, n: number, model = 'sim-model'): Promise<string> {
  const path = join(await tempDir('bench-pool'), name);
  await writeShapedChatFile(path, n, PROMPT_TOKENS, MAX_TOKENS);
  if (model !== 'sim-model')
    await writeFile(
      path,
      (await readFile(path, 'utf8')).replaceAll('"model":"sim-model"', `"model":"${model}"`),
    );
  return path;
}

const received = async (sim: SimulatorProcess): Promise<number> => (await sim.stats()).received;

/** Two replicas (blocks each): service rate ÷ the sum of their best direct rates, and the split. */
async function twoReplicas(blocks: [number, number]): Promise<void> {
  console.log(
    `\n## ${LINES}-line batch over two KV-bound replicas of one model (${blocks[0]} and ${blocks[1]} blocks of 16 tokens, ${STEP_MS} ms steps; ${PROMPT_TOKENS}-token prompts, max_tokens ${MAX_TOKENS})`,
  );
  const path = await shapedFile('pool.jsonl', LINES);
  const bodies = await bodiesOf(path);
  const sims = [await replica(0, blocks[0]), await replica(1, blocks[1])];
  try {
    const best = [
      await bestDirectAt(sims[0], bodies, blocks[0]),
      await bestDirectAt(sims[1], bodies, blocks[1]),
    ];
    const direct = best.map((b) => b.rate);
    // The same two clients at once, the lines split by their rates: what this machine gives two
    // replicas fed together (the service feeds both from one process, beside both simulators).
    let from = 0;
    const shares = best.map((b, i) => {
      const n = i === 0 ? Math.round((LINES * direct[0]) / (direct[0] + direct[1])) : LINES - from;
      const slice = bodies.slice(from, from + n);
      from += n;
      return { url: sims[i].url, slice, concurrency: b.concurrency };
    });
    for (const s of sims) await s.reset();
    const t0 = performance.now();
    await Promise.all(shares.map((s) => directRun(s.url, s.slice, s.concurrency)));
    const together = LINES / ((performance.now() - t0) / 1000);
    for (const s of sims) await s.reset();
    const { seconds, batch } = await withService(sims, (_svc, a) => runBatch(a, path));
    const split = [await received(sims[0]), await received(sims[1])];
    const rate = LINES / seconds;
    const sum = direct[0] + direct[1];
    console.log(
      `service: ${fmt(rate)} req/s (${batch.request_counts?.completed} ok, ${batch.request_counts?.failed} failed); sum of best direct rates ${fmt(sum)} → ratio ${fmt(rate / sum, 3)} (target ≥ 0.95)`,
    );
    console.log(
      `both direct clients at once (lines split by their rates): ${fmt(together)} req/s → service ÷ that ${fmt(rate / together, 3)}`,
    );
    console.log(
      `lines per replica: ${split[0]} / ${split[1]} (${fmt((100 * split[0]) / (split[0] + split[1]))} % on the first; capacity share ${fmt((100 * blocks[0]) / (blocks[0] + blocks[1]))} %, direct-rate share ${fmt((100 * direct[0]) / sum)} %)`,
    );
  } finally {
    for (const s of sims) await s.proc.stop();
  }
}

async function pool2(): Promise<void> {
  await twoReplicas([BLOCKS, BLOCKS]);
}

async function poolunequal(): Promise<void> {
  await twoReplicas([BLOCKS, Math.round(BLOCKS / 2)]);
}

async function poolkill(): Promise<void> {
  console.log(
    `\n## ${LINES}-line batch over two replicas; one SIGKILLed at 30 % (KV-bound, ${BLOCKS} blocks each)`,
  );
  const path = await shapedFile('kill.jsonl', LINES);
  const run = async (
    kill: boolean,
  ): Promise<{ seconds: number; failed: number; ids: number; unique: number }> => {
    const sims = [await replica(0, BLOCKS), await replica(1, BLOCKS)];
    try {
      return await withService(sims, async (_svc, a) => {
        let killed = false;
        const { seconds, batch } = await runBatch(a, path, () => {
          if (!kill || killed) return;
          void a.batches.list({ limit: 1 }).then((page) => {
            const done = page.data[0]?.request_counts?.completed ?? 0;
            if (!killed && done >= LINES * 0.3) {
              killed = true;
              sims[1].proc.kill('SIGKILL');
              console.log(`replica 1 killed at ${done} lines done`);
            }
          });
        });
        const out = await a.files.content(batch.output_file_id as string);
        const ids = (await out.text())
          .split('\n')
          .filter(Boolean)
          .map((l) => (JSON.parse(l) as { custom_id: string }).custom_id);
        return {
          seconds,
          failed: batch.request_counts?.failed ?? -1,
          ids: ids.length,
          unique: new Set(ids).size,
        };
      });
    } finally {
      for (const s of sims) await s.proc.stop().catch(() => undefined);
    }
  };
  const calm = await run(false);
  const hit = await run(true);
  console.log(
    `undisturbed: ${fmt(calm.seconds, 2)} s, ${calm.failed} failed, ${calm.ids} output lines (${calm.unique} distinct ids)`,
  );
  console.log(
    `one replica killed at 30 %: ${fmt(hit.seconds, 2)} s, ${hit.failed} failed, ${hit.ids} output lines (${hit.unique} distinct ids); time lost ${fmt(hit.seconds - calm.seconds, 2)} s (the rest ran on one replica)`,
  );
}

async function poolmodels(): Promise<void> {
  console.log(
    `\n## two models on two replicas (${BLOCKS} blocks each), one ${LINES}-line batch each at the same time`,
  );
  const paths = [
    await shapedFile('a.jsonl', LINES, 'model-a'),
    await shapedFile('b.jsonl', LINES, 'model-b'),
  ];
  const sims = [await replica(0, BLOCKS, 'model-a'), await replica(1, BLOCKS, 'model-b')];
  try {
    const direct = [
      await bestDirect(sims[0], await bodiesOf(paths[0]), BLOCKS),
      await bestDirect(sims[1], await bodiesOf(paths[1]), BLOCKS),
    ];
    const runs = await withService(sims, (_svc, a, b) =>
      Promise.all([runBatch(a, paths[0]), runBatch(b, paths[1])]),
    );
    runs.forEach(({ seconds, batch }, i) =>
      console.log(
        `model-${'ab'[i]}: ${fmt(LINES / seconds)} req/s (${batch.request_counts?.completed} ok) ÷ its best direct ${fmt(direct[i])} = ${fmt(LINES / seconds / direct[i], 3)} (target ≥ 0.95)`,
      ),
    );
  } finally {
    for (const s of sims) await s.proc.stop();
  }
}

async function poolfair(): Promise<void> {
  const large = Number(process.env.BENCH_FAIR_LARGE ?? 6000);
  const small = Number(process.env.BENCH_FAIR_SMALL ?? 50);
  console.log(
    `\n## a ${small}-line batch of tenant B alone, then 5 s into tenant A's ${large}-line batch: on one replica and on two (${BLOCKS} blocks each)`,
  );
  const bigPath = await shapedFile('large.jsonl', large);
  const smallPath = await shapedFile('small.jsonl', small);
  for (const n of [1, 2]) {
    const sims = await Promise.all(Array.from({ length: n }, (_, i) => replica(i, BLOCKS)));
    try {
      await withService(sims, async (_svc, a, b) => {
        const alone = await runBatch(b, smallPath);
        const bigRun = runBatch(a, bigPath);
        await new Promise((r) => setTimeout(r, 5000));
        const shared = await runBatch(b, smallPath);
        const big = await bigRun;
        console.log(
          `${n} replica(s): small alone ${fmt(alone.seconds, 2)} s; during the large one ${fmt(shared.seconds, 2)} s = ${fmt(shared.seconds / alone.seconds, 2)} × alone (target ≤ 1.5); the large one took ${fmt(big.seconds, 1)} s`,
        );
      });
    } finally {
      for (const s of sims) await s.proc.stop();
    }
  }
}

export const POOL_SCENARIOS: Record<string, () => Promise<void>> = {
  pool2,
  poolunequal,
  poolkill,
  poolmodels,
  poolfair,
};
