import { BatchEndpoint } from '../../common/batch-endpoints';

/** A line-level refusal, before the line number is attached. */
export interface BodyRefusal {
  code: string;
  message: string;
  param: string;
}

/**
 * Checks a line's body needs beyond the ones every endpoint shares (url, model, stream). Only what
 * a batch cannot honour is refused here; anything the upstream would refuse (a model that does not
 * serve the endpoint, a missing `input`) is left to it, so its own message reaches the error file.
 */
export function endpointBodyRefusal(
  endpoint: BatchEndpoint,
  body: Record<string, unknown>,
): BodyRefusal | null {
  // A background response is stored upstream and answered with `queued`: the batch would record
  // a placeholder instead of the answer, and vLLM would keep a response nobody fetches.
  if (endpoint === '/v1/responses' && body.background === true) {
    return {
      code: 'invalid_request',
      message:
        "'background: true' is not supported in batches: a batch already runs its requests in the background. Remove 'background' or set it to false.",
      param: 'body.background',
    };
  }
  return null;
}

/** OpenAI's limit on the embedding inputs of one batch, all lines together. */
export const MAX_EMBEDDING_INPUTS = 50_000;

/**
 * How many embedding inputs a line asks for, as OpenAI counts them: a string or one list of token
 * ids is one input; a list of strings (or of token-id lists) is one per element. A malformed
 * `input` counts as one: the upstream refuses it with its own message.
 */
export function embeddingInputCount(body: Record<string, unknown>): number {
  const input = body.input;
  if (!Array.isArray(input) || input.length === 0) return 1;
  return typeof input[0] === 'number' ? 1 : input.length;
}

/** Adds up a batch's embedding inputs line by line and says at which line they pass the limit. */
export class EmbeddingInputTally {
  private total = 0;

  constructor(private readonly limit = MAX_EMBEDDING_INPUTS) {}

  /** The refusal for the line that takes the total past the limit; null for every other line. */
  add(body: Record<string, unknown>): BodyRefusal | null {
    const before = this.total;
    this.total += embeddingInputCount(body);
    if (before > this.limit || this.total <= this.limit) return null;
    return {
      code: 'too_many_embedding_inputs',
      message: `This line brings the batch to more than ${this.limit.toLocaleString('en-US')} embedding inputs (each element of an 'input' array counts as one). Split the inputs into several batches.`,
      param: 'body.input',
    };
  }
}
