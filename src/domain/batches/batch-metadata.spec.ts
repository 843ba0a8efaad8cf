import { ApiError } from '../../common/api-error';
import { validateMetadata } from './batch-metadata';

const refused = (metadata: Record<string, unknown>): unknown => {
  try {
    validateMetadata(metadata);
  } catch (err) {
    return err instanceof ApiError ? { status: err.status, param: err.param } : err;
  }
  return 'accepted';
};

describe('batch metadata limits (OpenAI: 16 pairs, keys up to 64 and values up to 512 characters)', () => {
  const emoji = '😀'; // one character, two UTF-16 units, four UTF-8 bytes
  const family = '👩‍👩‍👧'; // one grapheme, five code points

  it('counts characters as code points, not UTF-16 units', () => {
    expect(validateMetadata({ k: emoji.repeat(512) })).toEqual({ k: emoji.repeat(512) });
    expect(validateMetadata({ [emoji.repeat(64)]: 'v' })).toEqual({ [emoji.repeat(64)]: 'v' });
    expect(refused({ k: emoji.repeat(513) })).toEqual({ status: 400, param: 'metadata' });
    expect(refused({ [emoji.repeat(65)]: 'v' })).toEqual({ status: 400, param: 'metadata' });
    // A grapheme of several code points counts as that many: what OpenAI's limit counts.
    expect(refused({ k: family.repeat(103) })).toEqual({ status: 400, param: 'metadata' });
    expect(validateMetadata({ k: family.repeat(102) })).not.toBeNull();
  });

  it('keeps the ASCII limits and the pair limit', () => {
    expect(validateMetadata({ k: 'v'.repeat(512), ['k'.repeat(64)]: 'v' })).not.toBeNull();
    expect(refused({ k: 'v'.repeat(513) })).toEqual({ status: 400, param: 'metadata' });
    expect(refused({ ['k'.repeat(65)]: 'v' })).toEqual({ status: 400, param: 'metadata' });
    const pairs = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
    expect(validateMetadata(pairs(16))).toEqual(pairs(16));
    expect(refused(pairs(17))).toEqual({ status: 400, param: 'metadata' });
  });

  it('refuses non-string values and what PostgreSQL cannot store; passes absent metadata', () => {
    expect(refused({ k: 5 })).toEqual({ status: 400, param: 'metadata' });
    expect(refused({ k: emoji.slice(0, 1) })).toEqual({ status: 400, param: 'metadata' });
    expect(refused({ k: 'a\u0000b' })).toEqual({ status: 400, param: 'metadata' });
    expect(validateMetadata(null)).toBeNull();
    expect(validateMetadata(undefined)).toBeNull();
  });
});
