/**
 * `POST /v1/responses` in vLLM's shape: parsing the request's input and building the Response
 * object. The engine runs it as it runs a chat completion (one sequence: prompt, then output).
 */
import type { FinishReason, GenerationPrompt } from './completions';
import { badRequest, contentText, countTokens, isObject, optionalPositiveInt } from './vllm-request';
import type { Json } from './vllm-request';

/**
 * `input` is a string or a list of items; message items (`{role, content}` with or without
 * `type: "message"`) carry a string or a list of content parts (`input_text`, …). Other item types
 * (tool calls and their outputs) add their text to the prompt, as a template would. The prompt is
 * the instructions, then every input item; the answer echoes the input string, or the last input
 * message's text; the limit is `max_output_tokens`.
 */
export function parseResponsesRequest(body: Json): GenerationPrompt {
  const input = body.input;
  if (input === undefined || input === null) throw badRequest('Field required: input');
  const instructions = typeof body.instructions === 'string' ? body.instructions : null;
  const maxOutputTokens = optionalPositiveInt(body, 'max_output_tokens');
  if (body.background === true)
    throw badRequest('background mode is not supported by the vLLM simulator (it stores no responses).');
  let texts: string[];
  let echoed: string;
  if (typeof input === 'string') {
    texts = [input];
    echoed = input;
  } else if (Array.isArray(input) && input.length > 0) {
    texts = [];
    echoed = '';
    for (const item of input) {
      if (!isObject(item)) throw badRequest('Each input item must be an object.');
      if (typeof item.role === 'string') {
        echoed = contentText(item.content);
        texts.push(echoed);
      } else if (typeof item.output === 'string') texts.push(item.output);
      else if (typeof item.arguments === 'string') texts.push(item.arguments);
    }
  } else {
    throw badRequest('input must be a string or a non-empty list of input items.');
  }
  const promptText = (instructions === null ? [] : [instructions]).concat(texts).join('\n');
  return { echoed, promptTokens: countTokens(promptText), requested: maxOutputTokens, where: 'input' };
}

export interface ResponseAnswer {
  id: string;
  messageId: string;
  createdAt: number;
  model: string;
  text: string;
  inputTokens: number;
  outputTokens: number;
  /** 'length': the answer stopped at the output limit, so the response is `incomplete`. */
  finishReason: FinishReason;
  request: Json;
}

/** The Response object vLLM answers (its ResponsesResponse, for a plain text answer). */
export function responseObject(a: ResponseAnswer): Json {
  const complete = a.finishReason === 'stop';
  const req = a.request;
  const echo = (field: string, def: unknown): unknown => req[field] ?? def;
  return {
    id: a.id,
    created_at: a.createdAt,
    incomplete_details: complete ? null : { reason: 'max_output_tokens' },
    instructions: echo('instructions', null),
    metadata: echo('metadata', null),
    model: a.model,
    object: 'response',
    output: [
      {
        id: a.messageId,
        content: [{ annotations: [], text: a.text, type: 'output_text', logprobs: null }],
        role: 'assistant',
        status: complete ? 'completed' : 'incomplete',
        type: 'message',
      },
    ],
    parallel_tool_calls: echo('parallel_tool_calls', true),
    temperature: echo('temperature', 1.0),
    tool_choice: echo('tool_choice', 'auto'),
    tools: echo('tools', []),
    top_p: echo('top_p', 1.0),
    background: false,
    max_output_tokens: echo('max_output_tokens', null),
    max_tool_calls: echo('max_tool_calls', null),
    previous_response_id: echo('previous_response_id', null),
    prompt: null,
    reasoning: echo('reasoning', null),
    service_tier: echo('service_tier', 'auto'),
    status: complete ? 'completed' : 'incomplete',
    text: echo('text', null),
    top_logprobs: echo('top_logprobs', 0),
    truncation: echo('truncation', 'disabled'),
    usage: {
      input_tokens: a.inputTokens,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: a.outputTokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: a.inputTokens + a.outputTokens,
    },
    user: echo('user', null),
  };
}
