/**
 * The /sim/* control endpoints: stats, faults and options over HTTP. Never subject to faults or
 * latency, not counted in the stats; unreachable during a 'refuse' outage (same socket).
 */
import type * as http from 'node:http';
import type { Faults } from './faults';
import type { SimulatorOptions } from './options';
import { readBody, sendJsonNow } from './respond';
import type { RunningSimulator } from './simulator';
import { isObject } from './vllm-request';

export type Controls = Pick<
  RunningSimulator,
  'stats' | 'resetStats' | 'faults' | 'setFaults' | 'options' | 'setOptions'
>;

export function handleControl(
  sim: Controls,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  path: string,
): void {
  const route = `${req.method ?? 'GET'} ${path}`;
  if (route === 'GET /sim/stats') return sendJsonNow(res, 200, sim.stats());
  if (route === 'GET /sim/faults') return sendJsonNow(res, 200, sim.faults());
  if (route === 'GET /sim/options') return sendJsonNow(res, 200, sim.options());
  if (route === 'POST /sim/reset') {
    sim.resetStats();
    return sendJsonNow(res, 200, sim.stats());
  }
  if (route === 'POST /sim/faults' || route === 'POST /sim/options') {
    readBody(req, (raw) => {
      try {
        const patch: unknown = raw.trim() === '' ? {} : JSON.parse(raw);
        if (!isObject(patch)) throw new RangeError('body must be a JSON object');
        if (route === 'POST /sim/faults') {
          sim.setFaults(patch as Partial<Faults>);
          sendJsonNow(res, 200, sim.faults());
        } else {
          sim.setOptions(patch as Partial<SimulatorOptions>);
          sendJsonNow(res, 200, sim.options());
        }
      } catch (e) {
        sendJsonNow(res, 400, { error: (e as Error).message });
      }
    });
    return;
  }
  sendJsonNow(res, 404, { error: `unknown control endpoint ${route}` });
}
