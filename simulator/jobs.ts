/**
 * The inference endpoints, the validated request each of them runs (a `Job`), and the answer to a
 * job the engine has finished.
 */
import { simulatedAnswer } from './answers';
import { chatCompletionObject, type FinishReason, textCompletionObject } from './completions';
import { type EmbeddingsRequest, embeddingsObject } from './embeddings';
import { responseObject } from './responses';
import { scoringAnswer, type ScoringRequest } from './scoring';
import type { Json } from './vllm-request';

export type Kind = 'chat' | 'completion' | 'embedding' | 'response' | 'score' | 'rerank';

/** Inference paths and what they run; also vLLM's name of each API, for "does not support" errors. */
export const INFERENCE_PATHS: Record<string, { kind: Kind; api: string }> = {
  '/v1/chat/completions': { kind: 'chat', api: 'Chat Completions' },
  '/v1/completions': { kind: 'completion', api: 'Completions' },
  '/v1/embeddings': { kind: 'embedding', api: 'Embeddings' },
  '/v1/responses': { kind: 'response', api: 'Responses' },
  '/v1/score': { kind: 'score', api: 'Score' },
  '/v1/rerank': { kind: 'rerank', api: 'Rerank' },
};

export function inferenceKind(path: string): Kind | null {
  return Object.hasOwn(INFERENCE_PATHS, path) ? INFERENCE_PATHS[path].kind : null;
}

/** A validated inference request: what the engine must do and how to answer when it is done. */
export interface Job {
  kind: Kind;
  model: string;
  /** Prompt tokens of each engine sequence (embeddings: one per input; scoring: one per pair). */
  promptTokens: number[];
  /** Tokens to generate per sequence (0 for pooling requests). */
  outputTokens: number;
  priority: number;
  finishReason: FinishReason;
  /** Chat, completion, response: the text the answer echoes. */
  echoed: string;
  embeddings: EmbeddingsRequest | null;
  /** Score and rerank: the pairs to score (one sequence each). */
  scoring: ScoringRequest | null;
  /** The request body, for answers that repeat request fields (Responses). */
  request: Json;
}

/** Response ids: a random per-server prefix and a counter, in vLLM's id shapes (`chatcmpl-…`). */
export class IdSource {
  private readonly prefix = Math.floor(Math.random() * 0xffffffff)
    .toString(16)
    .padStart(8, '0');
  private counter = 0;

  next(kind: string): string {
    this.counter++;
    return `${kind}${this.prefix}${this.counter.toString(16).padStart(12, '0')}`;
  }
}

/** The 200 body of a finished job. */
export function answerBody(job: Job, ids: IdSource, asciiOnly: boolean): string {
  const created = Math.floor(Date.now() / 1000);
  const meta = (idPrefix: string) => ({ id: ids.next(idPrefix), created, model: job.model });
  if (job.embeddings !== null) return JSON.stringify(embeddingsObject(job.embeddings, meta('embd-')));
  if (job.scoring !== null) {
    return JSON.stringify(scoringAnswer(job.scoring, meta(job.kind === 'score' ? 'score-' : 'rerank-')));
  }
  const text = simulatedAnswer(job.echoed, asciiOnly);
  const promptTokens = job.promptTokens[0];
  if (job.kind === 'response') {
    return JSON.stringify(
      responseObject({
        id: ids.next('resp_'),
        messageId: ids.next('msg_'),
        createdAt: created,
        model: job.model,
        text,
        inputTokens: promptTokens,
        outputTokens: job.outputTokens,
        finishReason: job.finishReason,
        request: job.request,
      }),
    );
  }
  const chat = job.kind === 'chat';
  const answer = {
    ...meta(chat ? 'chatcmpl-' : 'cmpl-'),
    text,
    promptTokens,
    outputTokens: job.outputTokens,
    finishReason: job.finishReason,
  };
  return JSON.stringify(chat ? chatCompletionObject(answer) : textCompletionObject(answer));
}
