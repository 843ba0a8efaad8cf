import { readFile } from 'node:fs/promises';
import { parsePrometheusText, PromSample } from '../../../src/common/prometheus-text';

/** The samples of `name` whose labels include every pair of `labels`. */
export function samplesOf(text: string, name: string, labels: Record<string, string> = {}): PromSample[] {
  return (parsePrometheusText(text, new Set([name])).get(name) ?? []).filter((s) =>
    Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}

/** The value of the first matching sample, or undefined when the series is absent. */
export function sampleValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  return samplesOf(text, name, labels)[0]?.value;
}

/** The sum of every matching sample (0 when there is none): a counter across its other labels. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  return samplesOf(text, name, labels).reduce((sum, s) => sum + s.value, 0);
}

/** Peak and current resident memory of a process, in MB, from /proc (VmHWM is the high-water mark). */
export async function memoryOf(pid: number): Promise<{ rssMb: number; peakMb: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}
