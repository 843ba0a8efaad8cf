import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { ApiError } from '../../common/api-error';
import type { AdminActor } from '../../domain/tenants/admin-actor';
import { clientAddress } from '../throttling/client-address';
import { adminUserOf } from './admin-basic-auth.middleware';

/** Who is asking, for the audit trail: the admin user the admin port's gate let in, and their address. */
export const Actor = createParamDecorator((_data: unknown, ctx: ExecutionContext): AdminActor => {
  const req = ctx.switchToHttp().getRequest<Request>();
  const actor = adminUserOf(req);
  // Unreachable behind hideAdminRoutes; kept so an admin change can never go unattributed.
  if (actor === null) throw ApiError.notFound(`Invalid URL (${req.method} ${req.path.slice(0, 200)})`);
  return { actor, address: clientAddress(req) };
});
