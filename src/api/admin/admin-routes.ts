import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ApiError } from '../../common/api-error';
import { writeError } from '../../platform/http/openai-exception.filter';
import { adminUserOf } from './admin-basic-auth.middleware';

export const ADMIN_QUEUES_ROUTE = '/admin/queues';
/** The admin REST API (Nest controllers) and its Swagger UI (Nest's SwaggerModule). */
export const ADMIN_API_ROUTE = '/admin/api';
export const ADMIN_DOCS_ROUTE = '/admin/docs';

const under = (path: string, root: string): boolean => path === root || path.startsWith(`${root}/`);

/** Paths the admin port hands to the Nest application: the admin API, its docs page, assets and JSON. */
export function isAdminNestPath(path: string): boolean {
  return under(path, ADMIN_API_ROUTE) || under(path, ADMIN_DOCS_ROUTE) || path === `${ADMIN_DOCS_ROUTE}-json`;
}

/**
 * On the Nest application: anything under /admin that did not come through the admin port's gate
 * (which records the admin user on the request) is answered 404, as if it did not exist. This is
 * what keeps the admin controllers and their Swagger UI, which are routes of the one Nest
 * application, off the public port.
 */
export function hideAdminRoutes(): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!under(req.path, '/admin') || adminUserOf(req) !== null) return next();
    writeError(res, ApiError.notFound(`Invalid URL (${req.method} ${req.path.slice(0, 200)})`));
  };
}
