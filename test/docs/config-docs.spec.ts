import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/platform/config/app-config';

const root = join(__dirname, '..', '..');
const read = (f: string): string => readFileSync(join(root, f), 'utf8');

/** Variables the config reads, found in its source (`(env, 'NAME'` and `env.NAME`). */
function variablesReadByConfig(): Set<string> {
  const src = read('src/platform/config/app-config.ts');
  const names = new Set<string>();
  for (const m of src.matchAll(/\(env, '([A-Z0-9_]+)'/g)) names.add(m[1]);
  for (const m of src.matchAll(/env\.([A-Z0-9_]+)/g)) names.add(m[1]);
  return names;
}

function envExample(): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of read('.env.example').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) vars[m[1]] = m[2];
  }
  return vars;
}

describe('configuration documentation', () => {
  it('.env.example lists every variable the service reads', () => {
    const documented = new Set(Object.keys(envExample()));
    const missing = [...variablesReadByConfig()].filter((v) => !documented.has(v));
    expect(missing).toEqual([]);
  });

  it('.env.example shows the real defaults: loading it gives the same config as an empty environment', () => {
    expect(loadConfig(envExample())).toEqual(loadConfig({}));
  });

  it("the README's configuration table lists every variable of .env.example with the same default", () => {
    const readme = read('README.md');
    for (const [name, value] of Object.entries(envExample())) {
      const row = readme.split('\n').find((l) => l.startsWith(`| \`${name}\` |`));
      expect({ name, row: row !== undefined }).toEqual({ name, row: true });
      expect({ name, cell: row!.split('|')[2].trim() }).toEqual({
        name,
        cell: value === '' ? '(empty)' : `\`${value}\``,
      });
    }
  });
});
