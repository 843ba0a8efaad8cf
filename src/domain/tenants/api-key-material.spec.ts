import { apiKeyHash, newApiKey } from './api-key-material';

describe('API key material', () => {
  it('makes sk- keys of 32 random bytes (base64url), stored as their hex SHA-256, shown by a short prefix', () => {
    const made = Array.from({ length: 200 }, () => newApiKey());
    for (const { key, hash, prefix } of made) {
      expect(key).toMatch(/^sk-[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(key.slice(3), 'base64url')).toHaveLength(32);
      expect(hash).toBe(apiKeyHash(key));
      expect(hash).toMatch(/^[0-9a-f]{64}$/);
      expect(hash).not.toContain(key.slice(3));
      expect(prefix).toBe(key.slice(0, 7));
    }
    expect(new Set(made.map((m) => m.key)).size).toBe(made.length);
  });
});
