import type { RunningSimulator } from '../../simulator/simulator';

/** Server root (without /v1). */
export const simulatorRoot = (sim: RunningSimulator): string => sim.url.replace(/\/v1$/, '');

/** POSTs `body` (JSON, or a raw string) to the simulator; the answer with its body parsed when it is JSON. */
export async function postToSimulator(
  sim: RunningSimulator,
  path: string,
  body: unknown,
  init: RequestInit = {},
) {
  const res = await fetch(simulatorRoot(sim) + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  // Tests walk arbitrary response bodies by path (r.json.choices[0].text); typing each is noise.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: res.status, headers: res.headers, text, json: json as Record<string, any> };
}
