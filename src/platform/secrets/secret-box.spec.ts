import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { SecretBox, SecretBoxError } from './secret-box';

const key = (): Buffer => randomBytes(32);

/** Flips one bit of one base64url part (1 iv, 2 tag, 3 ciphertext) of a sealed value. */
function flip(sealed: string, part: number, bit: number): string {
  const parts = sealed.split('.');
  const bytes = Buffer.from(parts[part], 'base64url');
  const i = bit % (bytes.length * 8);
  bytes[Math.floor(i / 8)] ^= 1 << (i % 8);
  parts[part] = bytes.toString('base64url');
  return parts.join('.');
}

describe('SecretBox (AES-256-GCM, versioned text form)', () => {
  const box = new SecretBox(key());

  it('opens what it sealed, for any text and any context (multi-byte included)', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 300 }),
        fc.string({ unit: 'grapheme', maxLength: 40 }),
        (plain, context) => {
          const sealed = box.seal(plain, context);
          expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]*$/);
          expect(box.open(sealed, context)).toBe(plain);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never shows the plaintext, and seals the same text differently each time (fresh IV)', () => {
    const plain = 'whsec_clé-秘密-🔑-' + 'x'.repeat(40);
    const a = box.seal(plain, 'tenant_webhooks:équipe');
    const b = box.seal(plain, 'tenant_webhooks:équipe');
    expect(a).not.toBe(b);
    expect(a.split('.')[1]).not.toBe(b.split('.')[1]);
    for (const sealed of [a, b]) {
      expect(sealed).not.toContain('clé');
      expect(Buffer.from(sealed.split('.')[3], 'base64url').toString('utf8')).not.toContain('秘密');
    }
    // UTF-8 bytes are what is encrypted: the ciphertext is as long as the text's bytes.
    expect(Buffer.from(a.split('.')[3], 'base64url').length).toBe(Buffer.byteLength(plain));
  });

  it('refuses to open under another key, loudly, never returning garbage', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 100 }), (plain) => {
        const other = new SecretBox(key());
        expect(() => other.open(box.seal(plain))).toThrow(SecretBoxError);
        expect(() => other.open(box.seal(plain))).toThrow(/sealed under another key or altered/);
      }),
      { numRuns: 50 },
    );
  });

  it('refuses a value whose IV, tag or ciphertext lost or changed any bit', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', minLength: 1, maxLength: 100 }),
        fc.constantFrom(1, 2, 3),
        fc.nat(),
        (plain, part, bit) => {
          const sealed = box.seal(plain);
          expect(() => box.open(flip(sealed, part, bit))).toThrow(SecretBoxError);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses a value sealed for another context (e.g. copied to another tenant’s row)', () => {
    const sealed = box.seal('whsec_un-secret', 'tenant_webhooks:équipe-α');
    expect(() => box.open(sealed, 'tenant_webhooks:équipe-β')).toThrow(SecretBoxError);
    expect(() => box.open(sealed)).toThrow(SecretBoxError);
    expect(box.open(sealed, 'tenant_webhooks:équipe-α')).toBe('whsec_un-secret');
  });

  it('refuses malformed or unknown-version text with a message that holds nothing of the value', () => {
    const sealed = box.seal('whsec_不要显示');
    const [, iv, tag, ct] = sealed.split('.');
    const bad = [
      '',
      'whsec_不要显示',
      `v2.${iv}.${tag}.${ct}`,
      `v1.${iv}.${tag}`,
      `v1.${iv}.${tag}.${ct}.extra`,
      `v1.${iv}.${tag}.${ct}==`,
      `v1.${iv.slice(2)}.${tag}.${ct}`,
      `v1.${iv}.${tag.slice(3)}.${ct}`,
      `v1.${iv}.${tag}.${ct.slice(0, -2)}`,
    ];
    for (const value of bad) {
      let message = '';
      try {
        box.open(value);
      } catch (err) {
        expect(err).toBeInstanceOf(SecretBoxError);
        message = (err as Error).message;
      }
      expect({ value, message }).toEqual({ value, message: expect.stringMatching(/\S/) });
      expect(message).not.toContain(ct);
      expect(message).not.toContain('不要');
    }
  });

  it('takes only a 32-byte key', () => {
    expect(() => new SecretBox(randomBytes(16))).toThrow(/32 bytes/);
    expect(() => new SecretBox(randomBytes(33))).toThrow(/32 bytes/);
  });
});
