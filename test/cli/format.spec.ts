import { lifetime, limit } from '../../src/cli/args';
import { parseDuration, parseTime, table } from '../../src/cli/format';

describe('the words people type for times and durations', () => {
  const now = Date.parse('2025-06-15T12:00:00Z');

  it('parseTime: an ISO date or time, unix seconds, or a duration ago → unix seconds', () => {
    expect(parseTime('2025-06-01', now)).toBe(Date.parse('2025-06-01T00:00:00Z') / 1000);
    expect(parseTime('2025-06-01T08:30:00+02:00', now)).toBe(Date.parse('2025-06-01T06:30:00Z') / 1000);
    expect(parseTime('1750000000', now)).toBe(1750000000);
    expect(parseTime('7d', now)).toBe((now - 7 * 86_400_000) / 1000);
    expect(parseTime('90m', now)).toBe((now - 90 * 60_000) / 1000);
    for (const bad of ['yesterday', '2025-13-45', '12', '', '７d']) {
      expect(() => parseTime(bad, now)).toThrow(/expected a date/);
    }
  });

  it('parseDuration knows days; lifetime wants a unit (a key valid for "30" ms is a typo)', () => {
    expect(parseDuration('30d')).toBe(30 * 86_400_000);
    expect(lifetime('12h')).toBe(12 * 3_600_000);
    expect(() => lifetime('30')).toThrow(/expected a duration such as 30d or 12h/);
  });

  it('limit: "default" (the environment decides), otherwise a number the rule accepts', () => {
    const wholeOrZero = limit((n) => Number.isInteger(n) && n >= 0, 'a whole number');
    expect(wholeOrZero('default')).toBe('default');
    expect(wholeOrZero('0')).toBe(0);
    expect(wholeOrZero('5000')).toBe(5000);
    for (const bad of ['', ' ', '-1', '1.5', 'lots']) expect(() => wholeOrZero(bad)).toThrow(/or "default"/);
  });
});

it('table: columns line up on a terminal with CJK and emoji (two columns wide each); numbers on the right', () => {
  const out = table(
    ['NAME', 'COUNT'],
    [
      ['夜間ジョブ', '5'],
      ['🌙 moon', '1,234'],
      ['plain', '12'],
    ],
    new Set([1]),
  );
  expect(out.split('\n')).toEqual([
    'NAME        COUNT',
    '夜間ジョブ      5',
    '🌙 moon     1,234',
    'plain          12',
  ]);
});
