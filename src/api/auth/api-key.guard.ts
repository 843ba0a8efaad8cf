import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ApiError } from '../../common/api-error';
import { ApiKeyService } from './api-key.service';
import { AuthedRequest } from './auth.types';
import { IS_PUBLIC } from '../../platform/http/public.decorator';

/** Global guard: every route needs a valid key unless marked @Public(). Attaches the tenant. */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly keys: ApiKeyService,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (isPublic) return true;
    const req = context.switchToHttp().getRequest<AuthedRequest>();
    const key = ApiKeyService.bearer(req.headers.authorization);
    // The rate limiter, which runs first, may have resolved the key already.
    const tenant = req.tenant ?? (await this.keys.resolve(key));
    if (!tenant) {
      throw ApiError.unauthorized(
        key
          ? 'Incorrect API key provided. Keys come from your operator (API_KEYS, or the admin API).'
          : "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
      );
    }
    req.tenant = tenant;
    return true;
  }
}
