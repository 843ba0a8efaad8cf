import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

export type UsageGrouping = 'day' | 'model';

export interface UsageRow {
  tenant: string;
  day?: string;
  model?: string | null;
  batches: number;
  requests_completed: number;
  requests_failed: number;
  input_tokens: number;
  cached_tokens: number;
  output_tokens: number;
}

const GROUP_COLUMNS: Record<UsageGrouping, string> = {
  // The UTC day, so every replica and operator reads the same buckets.
  day: `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day`,
  model: `model`,
};

/**
 * Usage from the per-batch totals kept on batch rows (per-line rows are purged with their files),
 * counted by the batch's created_at, per tenant and optionally per UTC day and model.
 */
@Injectable()
export class BatchUsageRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async usage(query: {
    tenant?: string;
    since: Date;
    until: Date;
    groupBy: UsageGrouping[];
  }): Promise<UsageRow[]> {
    const groups = ['tenant_id', ...query.groupBy.map((g) => (g === 'day' ? 'day' : 'model'))];
    const params: unknown[] = [query.since, query.until];
    const tenantFilter = query.tenant === undefined ? '' : `AND tenant_id = $${params.push(query.tenant)}`;
    const rows = (await this.db.query(
      `SELECT tenant_id AS tenant, ${query.groupBy.map((g) => GROUP_COLUMNS[g] + ', ').join('')}
              count(*)::bigint::text AS batches,
              COALESCE(SUM(completed_requests), 0)::text AS requests_completed,
              COALESCE(SUM(failed_requests), 0)::text AS requests_failed,
              COALESCE(SUM(input_tokens), 0)::text AS input_tokens,
              COALESCE(SUM(cached_tokens), 0)::text AS cached_tokens,
              COALESCE(SUM(output_tokens), 0)::text AS output_tokens
         FROM batches
        WHERE created_at >= $1 AND created_at < $2 ${tenantFilter}
        GROUP BY ${groups.join(', ')}
        ORDER BY ${groups.join(', ')}`,
      params,
    )) as Record<string, string | null>[];
    const counts = [
      'batches',
      'requests_completed',
      'requests_failed',
      'input_tokens',
      'cached_tokens',
      'output_tokens',
    ] as const;
    return rows.map((r) => ({
      tenant: r.tenant!,
      ...(query.groupBy.includes('day') ? { day: r.day! } : {}),
      ...(query.groupBy.includes('model') ? { model: r.model } : {}),
      ...(Object.fromEntries(counts.map((c) => [c, Number(r[c])])) as Record<
        (typeof counts)[number],
        number
      >),
    }));
  }
}
