import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const ALGORITHM = 'aes-256-gcm';
const VERSION = 'v1';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const B64URL = /^[A-Za-z0-9_-]*$/;

/** A sealed value that cannot be opened: another key, another context, or altered. Never holds the value. */
export class SecretBoxError extends Error {}

/**
 * Encrypts short secrets for storage: AES-256-GCM, a random 12-byte IV per value, the 16-byte tag
 * checked on opening. The text form is `v1.<iv>.<tag>.<ciphertext>` (base64url), so a later scheme
 * (another cipher, a key id) gets another prefix and old values stay readable. `context` is bound
 * as additional authenticated data: a value sealed for one row (say one tenant's) does not open
 * for another, so copying ciphertext between rows in the database gains nothing.
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== KEY_BYTES) throw new SecretBoxError(`the key must be ${KEY_BYTES} bytes`);
    this.key = Buffer.from(key);
  }

  seal(plaintext: string, context = ''): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, iv, cipher.getAuthTag(), ciphertext].map(encode).join('.');
  }

  /** The plaintext, or a SecretBoxError: never a garbled value. */
  open(sealed: string, context = ''): string {
    const parts = sealed.split('.');
    if (parts[0] !== VERSION) {
      throw new SecretBoxError(`not a sealed value of a known version (expected ${VERSION}.…)`);
    }
    if (parts.length !== 4 || !parts.every((p) => B64URL.test(p))) {
      throw new SecretBoxError(
        `a ${VERSION} sealed value is ${VERSION}.<iv>.<tag>.<ciphertext> in base64url`,
      );
    }
    const [iv, tag, ciphertext] = parts.slice(1).map((p) => Buffer.from(p, 'base64url'));
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
      throw new SecretBoxError(
        `a ${VERSION} sealed value has a ${IV_BYTES}-byte IV and a ${TAG_BYTES}-byte tag`,
      );
    }
    const decipher = createDecipheriv(ALGORITHM, this.key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretBoxError(
        'the sealed value does not open with this key: it was sealed under another key or altered',
      );
    }
  }
}

function encode(part: string | Buffer): string {
  return typeof part === 'string' ? part : part.toString('base64url');
}
