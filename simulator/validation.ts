/**
 * Request validation: from a raw inference body to a `Job`, with vLLM's checks and messages for
 * the cases a batch service meets. Throws `HttpError` (answered in vLLM's error shape).
 */
import { type GenerationPrompt, parseChatRequest, parseCompletionRequest } from './completions';
import { parseEmbeddingsRequest } from './embeddings';
import { INFERENCE_PATHS, type Job, type Kind } from './jobs';
import { parseResponsesRequest } from './responses';
import { pairTokens, parseRerankRequest, parseScoreRequest } from './scoring';
import { badRequest, fnv1a, HttpError, inputTooLong, isObject, type Json } from './vllm-request';

/** The options validation reads (a subset of SimulatorOptions). */
export interface RequestRules {
  models: string[];
  maxModelLen: number;
  defaultMaxTokens: number;
  outputTokens: number | null;
  outputTokensMax: number | null;
  priorityScheduling: boolean;
  unsupportedEndpoints: string[];
}

/** Common fields of every job (the per-endpoint parts aside). */
type JobBase = Pick<Job, 'kind' | 'model' | 'priority' | 'request'>;

export function parseJob(path: string, kind: Kind, rawBody: string, rules: RequestRules): Job {
  let body: unknown;
  try {
    body = JSON.parse(rawBody);
  } catch (e) {
    throw badRequest(`Invalid JSON body: ${(e as Error).message}`);
  }
  // vLLM routes a request to an API its model does not serve to this answer, before reading it.
  if (rules.unsupportedEndpoints.includes(path))
    throw badRequest(`The model does not support ${INFERENCE_PATHS[path].api} API`);
  if (!isObject(body)) throw badRequest('The request body must be a JSON object.');
  const model = resolveModel(body.model, rules.models);
  const priority = body.priority ?? 0;
  if (typeof priority !== 'number' || !Number.isInteger(priority)) {
    throw badRequest(`priority must be an integer, got ${JSON.stringify(priority)}.`);
  }
  if (priority !== 0 && !rules.priorityScheduling) {
    throw badRequest(`Got priority ${priority} but Priority scheduling is not enabled.`);
  }
  // Streaming is not simulated; the batch service never streams (it rejects stream lines).
  if (body.stream === true) throw badRequest('stream=true is not supported by the vLLM simulator.');

  const base: JobBase = { kind, model, priority, request: body };
  if (kind === 'embedding') return embeddingJob(base, body, rules.maxModelLen);
  if (kind === 'score' || kind === 'rerank') return scoringJob(base, kind, body, rules.maxModelLen);
  const prompt =
    kind === 'chat'
      ? parseChatRequest(body)
      : kind === 'response'
        ? parseResponsesRequest(body)
        : parseCompletionRequest(body);
  return generationJob(base, prompt, rules);
}

function resolveModel(model: unknown, served: string[]): string {
  // vLLM falls back to the served model when the field is absent.
  if (model === undefined || model === null) return served[0];
  if (typeof model !== 'string') throw badRequest('model must be a string.');
  if (!served.includes(model))
    throw new HttpError(404, `The model \`${model}\` does not exist.`, 'NotFoundError');
  return model;
}

function generationJob(base: JobBase, prompt: GenerationPrompt, rules: RequestRules): Job {
  const limit = generationLimit(prompt, rules);
  const natural = naturalLength(prompt, rules) ?? limit;
  return {
    ...base,
    promptTokens: [prompt.promptTokens],
    outputTokens: Math.min(limit, natural),
    finishReason: natural > limit ? 'length' : 'stop',
    echoed: prompt.echoed,
    embeddings: null,
    scoring: null,
  };
}

/**
 * The answer's natural length: `outputTokens`, or with `outputTokensMax` a length spread over
 * outputTokens..outputTokensMax by a hash of the prompt; null when neither is set (the limit).
 */
function naturalLength(prompt: GenerationPrompt, rules: RequestRules): number | null {
  const min = rules.outputTokens;
  if (min === null || rules.outputTokensMax === null || rules.outputTokensMax <= min) return min;
  const h = fnv1a(`${prompt.promptTokens}:${prompt.echoed}`);
  return min + (h % (rules.outputTokensMax - min + 1));
}

/** The request's limit, or the default; either must leave the prompt room in the context. */
function generationLimit(prompt: GenerationPrompt, rules: RequestRules): number {
  const { promptTokens, requested, where } = prompt;
  const maxLen = rules.maxModelLen;
  if (requested === undefined) {
    if (promptTokens >= maxLen) {
      throw badRequest(
        `This model's maximum context length is ${maxLen} tokens. However, you requested ${promptTokens} tokens in the ${where}, Please reduce the length of the ${where}.`,
      );
    }
    // vLLM's default would be maxModelLen - prompt; a small default keeps simulated jobs short.
    return Math.min(rules.defaultMaxTokens, maxLen - promptTokens);
  }
  if (promptTokens + requested > maxLen) {
    throw badRequest(
      `This model's maximum context length is ${maxLen} tokens. However, you requested ${promptTokens + requested} tokens (${promptTokens} in the ${where}, ${requested} in the completion). Please reduce the length of the ${where} or completion.`,
    );
  }
  return requested;
}

function embeddingJob(base: JobBase, body: Json, maxModelLen: number): Job {
  const embeddings = parseEmbeddingsRequest(body, maxModelLen);
  return pooling(base, embeddings.promptTokens, { embeddings, scoring: null });
}

function scoringJob(base: JobBase, kind: 'score' | 'rerank', body: Json, maxModelLen: number): Job {
  const scoring = kind === 'score' ? parseScoreRequest(body) : parseRerankRequest(body);
  const promptTokens = scoring.pairs.map(pairTokens);
  for (const tokens of promptTokens) {
    if (tokens > maxModelLen) throw inputTooLong(maxModelLen, tokens, kind);
  }
  return pooling(base, promptTokens, { embeddings: null, scoring });
}

/** A pooling job: one prefill-only sequence per input or pair. */
function pooling(base: JobBase, promptTokens: number[], parts: Pick<Job, 'embeddings' | 'scoring'>): Job {
  return { ...base, ...parts, promptTokens, outputTokens: 0, finishReason: 'stop', echoed: '' };
}
