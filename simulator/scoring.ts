/**
 * vLLM's scoring endpoints for pooling models: `POST /v1/score` (`text_1`, `text_2`) and
 * `POST /v1/rerank` (`query`, `documents`, `top_n`). Both score (text, text) pairs; the engine runs
 * each pair as one prefill-only sequence, as it runs an embedding input.
 */
import { badRequest, countTokens, fnv1a, type Json } from './vllm-request';

export interface ScoringRequest {
  kind: 'score' | 'rerank';
  pairs: Array<[string, string]>;
  /** Rerank: how many of the best results to answer (all when absent or 0). */
  topN: number;
}

/** Deterministic relevance of `b` to `a`, in [0, 1]: a hash of the two texts. */
export function scoreFor(a: string, b: string): number {
  return fnv1a(`${a}\u0000${b}`) / 0xffffffff;
}

/** Tokens of one pair, as a cross-encoder sees it (both texts, one sequence). */
export function pairTokens([a, b]: [string, string]): number {
  return countTokens(a) + countTokens(b);
}

const textList = (v: unknown, field: string): string[] => {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((t) => typeof t === 'string')) return v as string[];
  if (v === undefined || v === null) throw badRequest(`Field required: ${field}`);
  throw badRequest(`${field} must be a string or a list of strings.`);
};

/** `text_1` against `text_2`: 1:1, 1:N or N:N, as vLLM accepts them. */
export function parseScoreRequest(body: Json): ScoringRequest {
  const left = textList(body.text_1, 'text_1');
  const right = textList(body.text_2, 'text_2');
  if (left.length === 0 || right.length === 0) throw badRequest('At least one text element must be given');
  if (left.length > 1 && left.length !== right.length)
    throw badRequest('Input lengths must be either 1:1, 1:N or N:N');
  return {
    kind: 'score',
    pairs: right.map((r, i) => [left.length === 1 ? left[0] : left[i], r]),
    topN: 0,
  };
}

/** `query` against each of `documents`. */
export function parseRerankRequest(body: Json): ScoringRequest {
  if (typeof body.query !== 'string')
    throw badRequest(body.query === undefined ? 'Field required: query' : 'query must be a string.');
  const documents = textList(body.documents, 'documents');
  if (documents.length === 0) throw badRequest('At least one text element must be given');
  const topN = body.top_n ?? 0;
  if (typeof topN !== 'number' || !Number.isInteger(topN) || topN < 0)
    throw badRequest(`top_n must be a non-negative integer, got ${JSON.stringify(topN)}.`);
  return { kind: 'rerank', pairs: documents.map((d) => [body.query as string, d]), topN };
}

/** The answer vLLM gives: ScoreResponse or RerankResponse. */
export function scoringAnswer(
  req: ScoringRequest,
  meta: { id: string; created: number; model: string },
): Json {
  const promptTokens = req.pairs.reduce((sum, p) => sum + pairTokens(p), 0);
  if (req.kind === 'score') {
    return {
      id: meta.id,
      object: 'list',
      created: meta.created,
      model: meta.model,
      data: req.pairs.map(([a, b], index) => ({ index, object: 'score', score: scoreFor(a, b) })),
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens, completion_tokens: 0 },
    };
  }
  const ranked = req.pairs
    .map(([query, text], index) => ({ index, document: { text }, relevance_score: scoreFor(query, text) }))
    .sort((x, y) => y.relevance_score - x.relevance_score || x.index - y.index);
  return {
    id: meta.id,
    model: meta.model,
    // vLLM's RerankUsage: total_tokens only (all prompt; a pooling model generates nothing).
    usage: { total_tokens: promptTokens },
    results: req.topN > 0 ? ranked.slice(0, req.topN) : ranked,
  };
}
