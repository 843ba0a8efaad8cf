import { ApiError } from '../../common/api-error';

/** The admin API's refusals, worded once. */
export const tenantNotFound = (id: string, param: string | null = null): ApiError =>
  new ApiError(404, `No such tenant: ${id.slice(0, 64)}`, 'invalid_request_error', 'tenant_not_found', param);

export const tenantExists = (id: string): ApiError =>
  new ApiError(409, `Tenant ${id} exists already.`, 'invalid_request_error', 'tenant_exists', 'id');

export const tenantDisabled = (id: string): ApiError =>
  new ApiError(
    409,
    `Tenant ${id} is disabled: enable it (POST /admin/api/tenants/${id}/enable) before creating keys for it.`,
    'invalid_request_error',
    'tenant_disabled',
    'tenant',
  );

export const keyNotFound = (id: string): ApiError =>
  new ApiError(404, `No such API key: ${id.slice(0, 64)}`, 'invalid_request_error', 'key_not_found', 'id');
