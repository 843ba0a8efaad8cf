/**
 * `npm run demo` (examples/demo.ts): the replicas it starts and the service configuration it
 * feeds them with, checked without starting anything.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { demoReplicas, demoServiceEnv } from '../../examples/demo';
import { upstreamUrls } from './compose-checks';
import { APP_ENV_NAMES } from './manifest-checks';

const ROOT = path.resolve(__dirname, '..', '..');

describe('npm run demo', () => {
  const replicas = demoReplicas({});
  const urls = replicas.map((r) => `http://127.0.0.1:${r.port}/v1`);
  const env = demoServiceEnv(urls, {});

  it('starts two simulator replicas on their own ports, from SIM_PORT on', () => {
    expect(replicas.map((r) => r.port)).toEqual([8000, 8001]);
    expect(demoReplicas({ SIM_PORT: '9000' }).map((r) => r.port)).toEqual([9000, 9001]);
    expect(new Set(replicas.map((r) => r.name)).size).toBe(2);
  });

  it('feeds both through VLLM_ENDPOINTS, the source the service picks', () => {
    expect(upstreamUrls(new Map(Object.entries(env)))).toEqual({ source: 'VLLM_ENDPOINTS', urls });
    for (const k of ['UPSTREAMS_FILE', 'VLLM_DISCOVERY', 'VLLM_BASE_URL']) expect(env[k]).toBeUndefined();
    expect(Object.keys(env).filter((k) => !APP_ENV_NAMES.has(k))).toEqual([]);
  });

  it("has both replicas serve the quickstart's model, and one of them a second model", () => {
    const quickstart = fs.readFileSync(path.join(ROOT, 'examples', 'quickstart.ts'), 'utf8');
    const model = /model = '([^']+)'/.exec(quickstart)![1];
    expect(replicas.every((r) => r.models.includes(model))).toBe(true);
    const all = new Set(replicas.flatMap((r) => r.models));
    expect(all.size).toBeGreaterThan(1);
  });

  it('is started by npm run demo, as the README says', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.demo).toContain('dist/examples/demo.js');
    expect(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')).toContain('npm run demo');
  });
});
