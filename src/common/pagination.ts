import { ApiError } from './api-error';

export interface ListPage<T> {
  object: 'list';
  data: T[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

/** Builds OpenAI's list object from `limit + 1` rows fetched, so `has_more` costs no extra query. */
export function toListPage<T extends { id: string }>(rows: T[], limit: number): ListPage<T> {
  const data = rows.slice(0, limit);
  return {
    object: 'list',
    data,
    first_id: data.length ? data[0].id : null,
    last_id: data.length ? data[data.length - 1].id : null,
    has_more: rows.length > limit,
  };
}

export function parseLimit(raw: unknown, def: number, max: number): number {
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw ApiError.badRequest(
      `Invalid 'limit': expected an integer between 1 and ${max}.`,
      'limit',
      'invalid_value',
    );
  }
  return n;
}
