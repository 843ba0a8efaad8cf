import { nestsDeeperThan } from './json-depth';
import { isStorableText, storableText } from './pg-text';

describe('text PostgreSQL can store', () => {
  it('refuses NUL and unpaired surrogates, keeps everything else', () => {
    for (const ok of ['', 'plain', 'é😀👩‍👩‍👧', 'שלום', '\ufffd', '\u0001\t'])
      expect(isStorableText(ok)).toBe(true);
    for (const bad of ['a\u0000b', '\ud800', 'x\udc00', '😀'.slice(0, 1), `${'😀'.slice(1)}z`])
      expect(isStorableText(bad)).toBe(false);
  });

  it('replaces what it cannot store with U+FFFD', () => {
    expect(storableText('a\u0000b\ud800c')).toBe('a\ufffdb\ufffdc');
    expect(storableText('😀')).toBe('😀');
    expect(storableText(null)).toBeNull();
  });
});

describe('nestsDeeperThan', () => {
  it('measures depth without recursion, even for 1,000,000 levels', () => {
    expect(nestsDeeperThan({ a: [1, { b: 2 }] }, 3)).toBe(false);
    expect(nestsDeeperThan({ a: [1, { b: {} }] }, 3)).toBe(true);
    expect(nestsDeeperThan('scalar', 0)).toBe(false);
    let deep: unknown = [];
    for (let i = 0; i < 1_000_000; i++) deep = [deep];
    expect(nestsDeeperThan(deep, 32)).toBe(true);
  });
});
