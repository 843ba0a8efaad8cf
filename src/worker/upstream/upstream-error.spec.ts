import { toOpenAiErrorBody } from './upstream-error';

describe('toOpenAiErrorBody', () => {
  it("turns vLLM's older flat error object into OpenAI's envelope, keeping the message", () => {
    const body = JSON.stringify({
      object: 'error',
      message: "This model's maximum context length is 4096 tokens.",
      type: 'BadRequestError',
      param: null,
      code: 400,
    });
    expect(toOpenAiErrorBody(400, body)).toEqual({
      error: {
        message: "This model's maximum context length is 4096 tokens.",
        type: 'invalid_request_error',
        param: null,
        code: null,
      },
    });
  });

  it("keeps vLLM's newer nested shape, with OpenAI-style type, param and code as given", () => {
    const body = JSON.stringify({
      error: {
        message: 'bad temperature',
        type: 'invalid_request_error',
        param: 'temperature',
        code: 'invalid_value',
      },
    });
    expect(toOpenAiErrorBody(400, body)).toEqual({
      error: {
        message: 'bad temperature',
        type: 'invalid_request_error',
        param: 'temperature',
        code: 'invalid_value',
      },
    });
  });

  it('maps a numeric code to null and a class-name type to the type for the status', () => {
    const body = JSON.stringify({
      error: { message: 'no such model', type: 'NotFoundError', param: null, code: 404 },
    });
    expect(toOpenAiErrorBody(404, body).error).toEqual({
      message: 'no such model',
      type: 'not_found_error',
      param: null,
      code: null,
    });
  });

  it("reads FastAPI's detail (a string or a list of validation errors)", () => {
    expect(toOpenAiErrorBody(404, '{"detail":"Not Found"}').error.message).toBe('Not Found');
    const list = JSON.stringify({ detail: [{ loc: ['body', 'messages'], msg: 'Field required' }] });
    expect(toOpenAiErrorBody(422, list).error).toMatchObject({
      message: 'body.messages: Field required',
      type: 'invalid_request_error',
    });
  });

  it("keeps a proxy's plain-text answer as the message", () => {
    expect(toOpenAiErrorBody(502, 'Bad Gateway\n')).toEqual({
      error: { message: 'Bad Gateway', type: 'server_error', param: null, code: null },
    });
  });

  it('says what happened when the body is empty', () => {
    expect(toOpenAiErrorBody(500, '').error.message).toBe(
      'The upstream server answered HTTP 500 with an empty body.',
    );
    expect(toOpenAiErrorBody(400, null).error.type).toBe('invalid_request_error');
  });

  it('keeps JSON of another shape whole in the message', () => {
    expect(toOpenAiErrorBody(400, '[1,2]').error.message).toBe(
      'The upstream server answered HTTP 400: [1,2]',
    );
    expect(toOpenAiErrorBody(400, '{"oops":true}').error.message).toBe(
      'The upstream server answered HTTP 400: {"oops":true}',
    );
  });

  it('keeps multi-byte messages whole and clips an endless page by characters, not bytes', () => {
    expect(toOpenAiErrorBody(400, '{"object":"error","message":"提示太长了 🙈"}').error.message).toBe(
      '提示太长了 🙈',
    );
    const page = '😀'.repeat(5000);
    const clipped = toOpenAiErrorBody(502, page).error.message;
    expect([...clipped]).toHaveLength(4001);
    expect(clipped.endsWith('😀…')).toBe(true);
  });
});
