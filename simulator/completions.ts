/**
 * `POST /v1/chat/completions` and `POST /v1/completions`: parsing the prompt and the answer
 * objects. The engine runs each as one sequence: the prompt, then the generated tokens.
 */
import {
  badRequest,
  contentText,
  countTokens,
  isObject,
  type Json,
  optionalPositiveInt,
  promptItem,
} from './vllm-request';

/** What the engine and the answer need from a generation request (chat, completion, response). */
export interface GenerationPrompt {
  /** The text the answer echoes. */
  echoed: string;
  promptTokens: number;
  /** The generation limit the request asks for, when it gives one. */
  requested: number | undefined;
  /** What vLLM calls the prompt in its context-length errors. */
  where: 'messages' | 'prompt' | 'input';
}

export type FinishReason = 'stop' | 'length';

/** The prompt is every message's content joined by "\n"; the answer echoes the last one. */
export function parseChatRequest(body: Json): GenerationPrompt {
  const messages = body.messages;
  if (messages === undefined || messages === null) throw badRequest('Field required: messages');
  if (!Array.isArray(messages) || messages.length === 0)
    throw badRequest('messages must be a non-empty array.');
  const texts: string[] = [];
  for (const m of messages) {
    if (!isObject(m) || typeof m.role !== 'string')
      throw badRequest('Each message must be an object with a role.');
    texts.push(contentText(m.content));
  }
  return {
    echoed: texts[texts.length - 1],
    promptTokens: countTokens(texts.join('\n')),
    requested: requestedMaxTokens(body),
    where: 'messages',
  };
}

/** A string or token ids; a list of prompts: the simulator answers the first only. */
export function parseCompletionRequest(body: Json): GenerationPrompt {
  let prompt = body.prompt;
  if (prompt === undefined || prompt === null) throw badRequest('Field required: prompt');
  if (Array.isArray(prompt) && prompt.length > 0 && typeof prompt[0] !== 'number') prompt = prompt[0];
  const item = promptItem(prompt, 'prompt');
  return {
    echoed: item.text,
    promptTokens: item.tokens,
    requested: requestedMaxTokens(body),
    where: 'prompt',
  };
}

function requestedMaxTokens(body: Json): number | undefined {
  return optionalPositiveInt(body, 'max_tokens') ?? optionalPositiveInt(body, 'max_completion_tokens');
}

export interface CompletionAnswer {
  id: string;
  created: number;
  model: string;
  text: string;
  promptTokens: number;
  outputTokens: number;
  finishReason: FinishReason;
}

/** vLLM's ChatCompletionResponse. */
export function chatCompletionObject(a: CompletionAnswer): Json {
  const message = { role: 'assistant', content: a.text };
  return completionObject(a, 'chat.completion', { index: 0, message, logprobs: null });
}

/** vLLM's CompletionResponse. */
export function textCompletionObject(a: CompletionAnswer): Json {
  return completionObject(a, 'text_completion', { index: 0, text: a.text, logprobs: null });
}

function completionObject(a: CompletionAnswer, object: string, choice: Json): Json {
  return {
    id: a.id,
    object,
    created: a.created,
    model: a.model,
    choices: [{ ...choice, finish_reason: a.finishReason, stop_reason: null }],
    usage: {
      prompt_tokens: a.promptTokens,
      total_tokens: a.promptTokens + a.outputTokens,
      completion_tokens: a.outputTokens,
    },
  };
}
