import { QueryFailedError } from 'typeorm';
import { ApiError } from '../../common/api-error';
import { isDependencyUnavailable, toApiError } from './openai-exception.filter';

const withCode = (message: string, code: string): Error => Object.assign(new Error(message), { code });

describe('toApiError: a dependency that is down is a 503 to retry, not a 500', () => {
  it.each([
    ['PostgreSQL refusing connections', withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')],
    [
      'PostgreSQL shutting down (57P01)',
      withCode('terminating connection due to administrator command', '57P01'),
    ],
    ['PostgreSQL starting up (57P03)', withCode('the database system is starting up', '57P03')],
    ['too many connections (53300)', withCode('sorry, too many clients already', '53300')],
    ['a pool that cannot connect in time', new Error('timeout exceeded when trying to connect')],
    ['a connection that ended mid-query', new Error('Connection terminated unexpectedly')],
    ['Redis gone', new Error('Connection is closed.')],
    [
      'a pg error wrapped by TypeORM',
      new QueryFailedError('SELECT 1', [], withCode('the database system is shutting down', '57P01')),
    ],
  ])('%s', (_what, err) => {
    expect(isDependencyUnavailable(err)).toBe(true);
    const api = toApiError(err);
    expect(api).toBeInstanceOf(ApiError);
    expect([api.status, api.type, api.code, api.headers['Retry-After']]).toEqual([
      503,
      'server_error',
      'service_unavailable',
      '5',
    ]);
  });

  it.each([
    ['a bug', new TypeError("Cannot read properties of undefined (reading 'id')")],
    ['a constraint violation', new QueryFailedError('INSERT', [], withCode('duplicate key', '23505'))],
  ])('%s stays a 500', (_what, err) => {
    expect(isDependencyUnavailable(err)).toBe(false);
    expect(toApiError(err).status).toBe(500);
  });
});
