/**
 * Typed domain error carrying everything OpenAI's error envelope needs. Services throw these; the
 * global exception filter turns them (and every other error) into `{"error": {...}}`.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  static badRequest(message: string, param: string | null = null, code: string | null = null): ApiError {
    return new ApiError(400, message, 'invalid_request_error', code, param);
  }

  static notFound(message: string, param: string | null = null): ApiError {
    return new ApiError(404, message, 'invalid_request_error', null, param);
  }

  static conflict(message: string, param: string | null = null): ApiError {
    return new ApiError(409, message, 'invalid_request_error', null, param);
  }

  static tooLarge(message: string, param: string | null = null): ApiError {
    return new ApiError(413, message, 'invalid_request_error', 'file_too_large', param);
  }

  static unsupportedMediaType(message: string): ApiError {
    return new ApiError(415, message, 'invalid_request_error', 'unsupported_media_type', null);
  }

  static requestTimeout(message: string): ApiError {
    return new ApiError(408, message, 'invalid_request_error', 'request_timeout', null);
  }

  static unauthorized(message: string): ApiError {
    return new ApiError(401, message, 'invalid_request_error', 'invalid_api_key', null);
  }
}

export interface ErrorEnvelope {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export function envelope(err: ApiError): ErrorEnvelope {
  return { error: { message: err.message, type: err.type, param: err.param, code: err.code } };
}
