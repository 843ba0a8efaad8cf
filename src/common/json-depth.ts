import type { NextFunction, Request, Response } from 'express';
import { ApiError } from './api-error';

/** Deepest nesting accepted in an API request body (batch create bodies are 2-3 levels deep). */
export const MAX_BODY_DEPTH = 32;
/** Deepest nesting accepted in a batch line's `body` (tool schemas nest, but not this far). */
export const MAX_LINE_BODY_DEPTH = 100;

/**
 * Whether a parsed JSON value nests deeper than `limit`, found without recursion. V8's JSON.parse
 * takes any depth, but what runs after it recurses: Nest's ValidationPipe overflowed the stack on a
 * 1 MB body of `[[[[...]]]]` (a 500), and JSON.stringify of a deep batch line overflowed in the worker.
 */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: Array<{ v: unknown; depth: number }> = [{ v: value, depth: 1 }];
  while (stack.length > 0) {
    const { v, depth } = stack.pop() as { v: unknown; depth: number };
    if (v === null || typeof v !== 'object') continue;
    if (depth > limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push({ v: child, depth: depth + 1 });
    }
  }
  return false;
}

/** Express middleware, after the body parsers: a too-deep body is a 400 in OpenAI's envelope. */
export function rejectDeepBodies(limit = MAX_BODY_DEPTH) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    if (req.body !== null && typeof req.body === 'object' && nestsDeeperThan(req.body, limit)) {
      next(ApiError.badRequest(`The JSON body nests more than ${limit} levels deep.`, null, 'invalid_json'));
      return;
    }
    next();
  };
}
