/**
 * `POST /v1/embeddings`: parsing the inputs and the answer. Each input is one prefill-only engine
 * sequence; its vector is derived from a hash of its text, so a test can compute it.
 */
import { badRequest, fnv1a, inputTooLong, type Json, promptItem } from './vllm-request';

export const EMBEDDING_DIMENSION = 8;

/** What the engine and the answer need from an embeddings request. */
export interface EmbeddingsRequest {
  texts: string[];
  /** Prompt tokens of each input. */
  promptTokens: number[];
  base64: boolean;
}

export function parseEmbeddingsRequest(body: Json, maxModelLen: number): EmbeddingsRequest {
  const input = body.input;
  if (input === undefined || input === null) throw badRequest('Field required: input');
  let items: unknown[];
  if (typeof input === 'string') items = [input];
  else if (Array.isArray(input) && input.length > 0 && typeof input[0] === 'number') items = [input];
  else if (Array.isArray(input) && input.length > 0) items = input;
  else throw badRequest('input must be a non-empty string or array.');
  const format = body.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64')
    throw badRequest(`encoding_format must be "float" or "base64", got ${JSON.stringify(format)}.`);
  const texts: string[] = [];
  const promptTokens: number[] = [];
  for (const raw of items) {
    const item = promptItem(raw, 'input');
    if (item.tokens > maxModelLen) throw inputTooLong(maxModelLen, item.tokens, 'embedding generation');
    texts.push(item.text);
    promptTokens.push(item.tokens);
  }
  return { texts, promptTokens, base64: format === 'base64' };
}

/** Deterministic unit-length vector of EMBEDDING_DIMENSION float32 values derived from the text. */
export function embeddingFor(text: string): number[] {
  // FNV-1a, then a small xorshift stream seeded by it.
  let x = fnv1a(text) || 1;
  const v: number[] = new Array<number>(EMBEDDING_DIMENSION);
  let norm = 0;
  for (let i = 0; i < EMBEDDING_DIMENSION; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const u = (x >>> 0) / 0x100000000; // [0, 1)
    v[i] = u * 2 - 1;
    norm += v[i] * v[i];
  }
  norm = Math.sqrt(norm) || 1;
  // float32 so that the float and the base64 encodings carry exactly the same numbers
  for (let i = 0; i < EMBEDDING_DIMENSION; i++) v[i] = Math.fround(v[i] / norm);
  return v;
}

function float32Base64(values: number[]): string {
  const buf = Buffer.allocUnsafe(values.length * 4);
  for (let i = 0; i < values.length; i++) buf.writeFloatLE(values[i], i * 4);
  return buf.toString('base64');
}

/** The answer vLLM gives (its EmbeddingResponse). */
export function embeddingsObject(
  req: EmbeddingsRequest,
  meta: { id: string; created: number; model: string },
): Json {
  const promptTokens = req.promptTokens.reduce((a, b) => a + b, 0);
  return {
    id: meta.id,
    object: 'list',
    created: meta.created,
    model: meta.model,
    data: req.texts.map((text, index) => {
      const v = embeddingFor(text);
      return { object: 'embedding', index, embedding: req.base64 ? float32Base64(v) : v };
    }),
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  };
}
