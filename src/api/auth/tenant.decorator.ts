import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import { AuthedRequest, TenantContext } from './auth.types';

/** The authenticated tenant of the current request (set by ApiKeyGuard). */
export const Tenant = createParamDecorator((_data: unknown, ctx: ExecutionContext): TenantContext => {
  const req = ctx.switchToHttp().getRequest<AuthedRequest>();
  if (!req.tenant) throw new Error('Tenant requested on a route without ApiKeyGuard');
  return req.tenant;
});
