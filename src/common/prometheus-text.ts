/** One sample of the Prometheus text exposition format: `name{labels} value`. */
export interface PromSample {
  labels: Record<string, string>;
  value: number;
}

/**
 * Parses the Prometheus text format (version 0.0.4, what vLLM's prometheus_client serves) into
 * samples by metric name. Only the names in `wanted` are kept when it is given (vLLM exports
 * hundreds of series; the controller needs five), comments and timestamps are skipped, label values
 * are unescaped.
 * Lines that do not parse are ignored rather than failing the whole scrape.
 */
export function parsePrometheusText(text: string, wanted?: ReadonlySet<string>): Map<string, PromSample[]> {
  const out = new Map<string, PromSample[]>();
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const line = text.slice(start, end).trim();
    start = end + 1;
    if (line === '' || line.charCodeAt(0) === 35 /* # */) continue;
    const brace = line.indexOf('{');
    const space = line.indexOf(' ');
    const nameEnd = brace !== -1 && (space === -1 || brace < space) ? brace : space;
    if (nameEnd <= 0) continue;
    const name = line.slice(0, nameEnd);
    if (wanted && !wanted.has(name)) continue;
    let labels: Record<string, string> = {};
    let rest: string;
    if (nameEnd === brace) {
      const parsed = parseLabels(line, brace + 1);
      if (!parsed) continue;
      labels = parsed.labels;
      rest = line.slice(parsed.end + 1);
    } else {
      rest = line.slice(nameEnd);
    }
    const value = parseValue(rest.trim().split(/\s+/)[0] ?? '');
    if (value === null) continue;
    let list = out.get(name);
    if (!list) out.set(name, (list = []));
    list.push({ labels, value });
  }
  return out;
}

/** Reads `a="x",b="y"` from `pos` up to the closing brace; returns the index of that brace. */
function parseLabels(line: string, pos: number): { labels: Record<string, string>; end: number } | null {
  const labels: Record<string, string> = {};
  let i = pos;
  for (;;) {
    while (line[i] === ' ' || line[i] === ',') i++;
    if (line[i] === '}') return { labels, end: i };
    const eq = line.indexOf('=', i);
    if (eq === -1 || line[eq + 1] !== '"') return null;
    const key = line.slice(i, eq).trim();
    let j = eq + 2;
    let value = '';
    for (;;) {
      const ch = line[j];
      if (ch === undefined) return null;
      if (ch === '\\') {
        const next = line[j + 1];
        value += next === 'n' ? '\n' : (next ?? '');
        j += 2;
        continue;
      }
      if (ch === '"') break;
      value += ch;
      j++;
    }
    labels[key] = value;
    i = j + 1;
  }
}

function parseValue(raw: string): number | null {
  if (raw === '') return null;
  if (raw === '+Inf') return Infinity;
  if (raw === '-Inf') return -Infinity;
  const n = Number(raw);
  return Number.isNaN(n) && raw !== 'NaN' ? null : n;
}
