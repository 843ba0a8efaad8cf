import { TtlCache } from './ttl-cache';

describe('TtlCache', () => {
  it('keeps answers (misses too) for its period, shares concurrent loads, and forgets failed loads', async () => {
    let now = 0;
    let loads = 0;
    const cache = new TtlCache<string, string | null>(2000, 100, () => now);
    const load = (v: string | null) => () => {
      loads++;
      return Promise.resolve(v);
    };
    expect(await Promise.all([cache.get('k', load('a')), cache.get('k', load('b'))])).toEqual(['a', 'a']);
    expect(await cache.get('none', load(null))).toBeNull();
    expect(await cache.get('none', load('late'))).toBeNull();
    expect(loads).toBe(2);
    now = 2000;
    expect(await cache.get('k', load('b'))).toBe('b');
    await expect(cache.get('x', () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    expect(await cache.get('x', load('up'))).toBe('up');
  });

  it('drops everything past maxEntries, so guessed keys cannot grow it without bound', async () => {
    const cache = new TtlCache<number, number>(60_000, 10);
    for (let i = 0; i < 25; i++) await cache.get(i, () => Promise.resolve(i));
    let reloaded = false;
    await cache.get(0, () => {
      reloaded = true;
      return Promise.resolve(0);
    });
    expect(reloaded).toBe(true);
  });
});
