import { endpointId, splitLimit } from './coordinator';

const w = (id: string, wantsMore: boolean, inflight = 0, batches = 1) => ({
  id,
  wantsMore,
  inflight,
  batches,
});

describe('splitLimit', () => {
  it('gives a single worker the whole limit', () => {
    expect(splitLimit(40, [w('a', true)])).toEqual({ a: 40 });
  });

  it('splits the limit among workers that want more by their number of batches; shares add up to it', () => {
    const shares = splitLimit(41, [w('a', true, 0, 1), w('b', true, 0, 1)]);
    expect(shares.a + shares.b).toBe(41);
    expect(Math.abs(shares.a - shares.b)).toBeLessThanOrEqual(1);
    const weighted = splitLimit(40, [w('a', true, 0, 3), w('b', true, 0, 1)]);
    expect(weighted).toEqual({ a: 30, b: 10 });
  });

  it('leaves a worker that cannot use its share what it has, and gives the rest to the others', () => {
    expect(splitLimit(40, [w('a', false, 5), w('b', true, 20)])).toEqual({ a: 5, b: 35 });
  });

  it('gives an idle worker a floor so a new batch starts at once', () => {
    expect(splitLimit(40, [w('a', false, 0, 0), w('b', true, 30)], 2)).toEqual({ a: 2, b: 38 });
  });
});

describe('endpointId', () => {
  it('is stable per vLLM URL and differs between URLs', () => {
    expect(endpointId('http://a:8000/v1')).toBe(endpointId('http://a:8000/v1'));
    expect(endpointId('http://a:8000/v1')).not.toBe(endpointId('http://b:8000/v1'));
  });
});
