import { ValidationError, ValidationPipe } from '@nestjs/common';
import type { ValidatorOptions } from 'class-validator';
import { ApiError } from '../../common/api-error';

const REFUSES_UNKNOWN_FIELDS = Symbol('refusesUnknownFields');

/**
 * Marks a body DTO whose unknown fields are refused (400) instead of dropped: for APIs whose callers
 * should hear about a misspelt setting (the admin API), while the OpenAI-compatible routes keep
 * ignoring fields they do not know, as clients of several API versions expect.
 */
export const RefuseUnknownFields = (): ClassDecorator => (target) => {
  Reflect.defineMetadata(REFUSES_UNKNOWN_FIELDS, true, target);
};

/**
 * The global ValidationPipe (`whitelist`, `transform`), with OpenAI-worded errors, that also
 * forbids unknown fields for DTOs marked @RefuseUnknownFields (one pipe: a second one would only
 * see the body after this one had stripped them).
 */
export class AppValidationPipe extends ValidationPipe {
  constructor() {
    super({
      whitelist: true,
      transform: true,
      forbidUnknownValues: false,
      exceptionFactory: (errors) => validationError(errors),
    });
  }

  protected override validate(object: object, validatorOptions?: ValidatorOptions) {
    const strict = Reflect.getMetadata(REFUSES_UNKNOWN_FIELDS, object.constructor) === true;
    return super.validate(
      object,
      strict ? { ...validatorOptions, forbidNonWhitelisted: true } : validatorOptions,
    );
  }
}

/** The first DTO violation, worded and coded the way OpenAI words its own parameter errors. */
export function validationError(errors: ValidationError[]): ApiError {
  let first: ValidationError | undefined = errors[0];
  let path = first?.property ?? null;
  while (first && !first.constraints && first.children?.length) {
    first = first.children[0];
    path = `${path}.${first.property}`;
  }
  if (!first) return ApiError.badRequest('Invalid request body.', null, 'invalid_request');
  if (first.constraints?.whitelistValidation) {
    return ApiError.badRequest(`Unrecognized request argument supplied: ${path}`, path, 'unknown_parameter');
  }
  if (first.value === undefined || first.value === null) {
    return ApiError.badRequest(`Missing required parameter: '${path}'.`, path, 'missing_required_parameter');
  }
  const constraint = first.constraints ? Object.values(first.constraints)[0] : 'invalid value';
  return ApiError.badRequest(`Invalid '${path}': ${constraint}.`, path, 'invalid_value');
}
