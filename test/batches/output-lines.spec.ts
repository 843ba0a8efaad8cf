import fc from 'fast-check';
import { formatLine } from '../../src/worker/output/batch-finalizer.service';
import { Json } from '../support/batch-helpers';
import { utf8Text } from '../support/unicode';

/**
 * The output/error file writer, one line at a time: whatever text users and models produce, each
 * result is exactly one JSONL line that parses back to what was recorded.
 */
const base = { requestId: 'batch_req_x', upstreamRequestId: 'req_up' };

function parseLine(line: string): Json {
  expect(line.endsWith('\n')).toBe(true);
  // One line per result: JSONL readers split on \n only; \r and U+2028 inside strings are escaped
  // or harmless, but a raw \n would split the result in two.
  expect(line.slice(0, -1).includes('\n')).toBe(false);
  return JSON.parse(line) as Json;
}

describe('formatLine (property)', () => {
  it('writes a successful answer of any text as one line that parses back to it', () => {
    fc.assert(
      fc.property(utf8Text(), utf8Text(200), (customId, content) => {
        const body = JSON.stringify({ choices: [{ message: { role: 'assistant', content } }] });
        const out = parseLine(
          formatLine({
            ...base,
            customId,
            statusCode: 200,
            body,
            errorCode: null,
            errorMessage: null,
          }),
        );
        expect(out.custom_id).toBe(customId);
        expect(out.response).toEqual({ status_code: 200, request_id: 'req_up', body: JSON.parse(body) });
        expect(out.error).toBeNull();
      }),
      { numRuns: 300 },
    );
  });

  it("writes an upstream error of any text in OpenAI's envelope, keeping its message", () => {
    fc.assert(
      fc.property(utf8Text(), utf8Text(200), (customId, message) => {
        const body = JSON.stringify({
          object: 'error',
          message,
          type: 'BadRequestError',
          param: null,
          code: 400,
        });
        const out = parseLine(
          formatLine({
            ...base,
            customId,
            statusCode: 400,
            body,
            errorCode: null,
            errorMessage: null,
          }),
        );
        expect(out.custom_id).toBe(customId);
        expect(out.response.status_code).toBe(400);
        expect(out.response.body.error).toEqual({
          message,
          type: 'invalid_request_error',
          param: null,
          code: null,
        });
      }),
      { numRuns: 300 },
    );
  });

  it('writes a request that never ran with its code and message', () => {
    fc.assert(
      fc.property(utf8Text(), utf8Text(), (customId, message) => {
        const out = parseLine(
          formatLine({
            ...base,
            customId,
            statusCode: null,
            body: null,
            errorCode: 'batch_cancelled',
            errorMessage: message,
          }),
        );
        expect(out).toEqual({
          id: 'batch_req_x',
          custom_id: customId,
          response: null,
          error: { code: 'batch_cancelled', message },
        });
      }),
    );
  });

  it("falls back to the line's id when a row has no upstream request id", () => {
    const out = parseLine(
      formatLine({
        ...base,
        upstreamRequestId: null,
        customId: 'c',
        statusCode: 502,
        body: 'Bad Gateway',
        errorCode: null,
        errorMessage: null,
      }),
    );
    expect(out.response).toEqual({
      status_code: 502,
      request_id: 'batch_req_x',
      body: { error: { message: 'Bad Gateway', type: 'server_error', param: null, code: null } },
    });
  });
});
