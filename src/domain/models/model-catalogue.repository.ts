import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

/** One entry of an endpoint's GET /v1/models, as vLLM reports it (extra fields are ignored). */
export interface ListedModel {
  id: string;
  max_model_len?: number | null;
  owned_by?: string | null;
}

/** A model of the catalogue, in the vocabulary of OpenAI's (and vLLM's) model object. */
export interface CatalogueModel {
  id: string;
  /** Unix seconds when any endpoint was first seen serving it. */
  created: number;
  /** As the endpoint that served it last reports it ('vllm' when it says nothing). */
  owned_by: string;
  /**
   * The smallest context length among the endpoints counted in `endpoints` (a line may go to any of
   * them); when none is counted, what the endpoint that served it last reported. Null when unknown.
   */
  max_model_len: number | null;
  /** Endpoints (base URLs) serving it now, sorted. */
  endpoints: string[];
  /** Unix seconds when any endpoint last listed it. */
  last_served_at: number;
}

/** PostgreSQL's deadlock_detected: two writers of one endpoint locked its rows in opposite orders. */
const DEADLOCK = '40P01';
const MAX_ATTEMPTS = 5;
const INT4_MAX = 2 ** 31 - 1;

/**
 * Every SQL statement on the model catalogue (served_models). Workers record what each endpoint
 * lists; the API reads what is served now. Each write is one statement, so several worker
 * processes recording at once cannot interleave half-written states, and each row only moves
 * forward in time (`listed_at`), so an observation that commits late cannot undo a newer one.
 *
 * Times default to the database's clock, the one clock all processes share; `at` and `now` are
 * there for tests and for callers that observed at a known earlier moment.
 */
@Injectable()
export class ModelCatalogueRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /**
   * What `endpoint` lists now: its models are served by it (inserted when new), and any model it
   * listed before but not now is no longer counted as served by it (its row, with the time it was
   * last served, stays). An observation older than one already recorded for the endpoint changes
   * nothing. Two observations of one endpoint committing at the same moment out of their order can
   * leave a model the older one listed marked served until the endpoint's next observation.
   */
  async recordServed(endpoint: string, models: readonly ListedModel[], at?: Date): Promise<void> {
    const listed = normalise(models);
    await this.write(
      `WITH observed AS (
         SELECT x.t FROM (SELECT COALESCE($5::timestamptz, now()) AS t) x
          WHERE NOT EXISTS (SELECT 1 FROM served_models WHERE endpoint_url = $1 AND listed_at > x.t)
       ),
       listed AS (
         SELECT l.model, l.max_model_len, l.owned_by, l.ord
           FROM unnest($2::text[], $3::integer[], $4::text[]) WITH ORDINALITY AS l(model, max_model_len, owned_by, ord)
       ),
       upserted AS (
         INSERT INTO served_models AS s
                (model, endpoint_url, served, owned_by, max_model_len, first_seen_at, last_served_at, listed_at)
         SELECT l.model, $1, true, l.owned_by, l.max_model_len, o.t, o.t, o.t
           FROM listed l, observed o ORDER BY l.ord
         ON CONFLICT (model, endpoint_url) DO UPDATE SET
           served = true,
           owned_by = EXCLUDED.owned_by,
           max_model_len = COALESCE(EXCLUDED.max_model_len, s.max_model_len),
           first_seen_at = LEAST(s.first_seen_at, EXCLUDED.first_seen_at),
           last_served_at = GREATEST(s.last_served_at, EXCLUDED.last_served_at),
           listed_at = EXCLUDED.listed_at
         WHERE s.listed_at <= EXCLUDED.listed_at
         RETURNING 1
       ),
       -- A listing older than what the endpoint already reflects changes nothing it served, but
       -- the models in it were seen then: one the catalogue never knew is kept, as not served now.
       seen_late AS (
         INSERT INTO served_models
                (model, endpoint_url, served, owned_by, max_model_len, first_seen_at, last_served_at, listed_at)
         SELECT l.model, $1, false, l.owned_by, l.max_model_len, t.t, t.t, t.t
           FROM listed l, (SELECT COALESCE($5::timestamptz, now()) AS t) t
          WHERE NOT EXISTS (SELECT 1 FROM observed)
         ON CONFLICT (model, endpoint_url) DO NOTHING
         RETURNING 1
       ),
       unlisted AS (
         UPDATE served_models s SET served = false, listed_at = o.t
           FROM observed o
          WHERE s.endpoint_url = $1 AND s.served AND s.listed_at <= o.t AND NOT (s.model = ANY($2::text[]))
         RETURNING 1
       )
       SELECT (SELECT count(*) FROM upserted) AS upserted, (SELECT count(*) FROM seen_late) AS seen_late,
              (SELECT count(*) FROM unlisted) AS unlisted`,
      [
        endpoint,
        listed.map((m) => m.id),
        listed.map((m) => m.maxModelLen),
        listed.map((m) => m.ownedBy),
        at ?? null,
      ],
    );
  }

  /** `endpoint` left the pool: it serves nothing now (its rows and their history stay). */
  async endpointGone(endpoint: string, at?: Date): Promise<void> {
    await this.write(
      `UPDATE served_models SET served = false, listed_at = COALESCE($2::timestamptz, now())
        WHERE endpoint_url = $1 AND served AND listed_at <= COALESCE($2::timestamptz, now())`,
      [endpoint, at ?? null],
    );
  }

  /**
   * Models served now: listed by at least one endpoint whose last listing is at most
   * `freshWithinMs` old (an endpoint nobody could ask for longer is not counted), sorted by id.
   */
  async servedNow(freshWithinMs: number, now?: Date): Promise<CatalogueModel[]> {
    const rows: CatalogueRow[] = await this.db.query(
      `${CATALOGUE_SELECT} GROUP BY model HAVING bool_or(counted) ORDER BY model`,
      [freshWithinMs, now ?? null],
    );
    return rows.map(toModel);
  }

  /**
   * A model ever seen, served now or not (null when never seen). `endpoints` are the endpoints
   * listing it now; with `freshWithinMs`, only those whose last listing is at most that old.
   */
  async find(model: string, freshWithinMs?: number, now?: Date): Promise<CatalogueModel | null> {
    // PostgreSQL's text cannot hold NUL, so no stored id has one (and the query would fail).
    if (model.includes('\u0000')) return null;
    const rows: CatalogueRow[] = await this.db.query(`${CATALOGUE_SELECT} AND model = $3 GROUP BY model`, [
      freshWithinMs ?? null,
      now ?? null,
      model,
    ]);
    return rows[0] ? toModel(rows[0]) : null;
  }

  /** Every model ever seen on any endpoint, served now or not, sorted. */
  async knownIds(): Promise<string[]> {
    const rows: Array<{ model: string }> = await this.db.query(
      `SELECT DISTINCT model FROM served_models ORDER BY model`,
    );
    return rows.map((r) => r.model);
  }

  /** Runs one write statement, again when PostgreSQL broke a deadlock by aborting it. */
  private async write(sql: string, params: unknown[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.db.query(sql, params);
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== DEADLOCK || attempt >= MAX_ATTEMPTS) throw err;
      }
    }
  }
}

interface CatalogueRow {
  id: string;
  created: string;
  owned_by: string;
  max_model_len: number | null;
  endpoints: string[] | null;
  last_served_at: string;
}

/**
 * Per model: a row is `counted` when its endpoint lists the model now and, given a window ($1, ms),
 * listed it within that window of now ($2, else the database's now()). The caller adds the WHERE's
 * remaining conditions (starting with AND), the GROUP BY model and what follows.
 */
const CATALOGUE_SELECT = `
  SELECT model AS id,
         floor(extract(epoch FROM min(first_seen_at)))::bigint AS created,
         (array_agg(owned_by ORDER BY last_served_at DESC, endpoint_url))[1] AS owned_by,
         COALESCE(min(max_model_len) FILTER (WHERE counted),
                  (array_agg(max_model_len ORDER BY last_served_at DESC, endpoint_url))[1]) AS max_model_len,
         array_agg(endpoint_url ORDER BY endpoint_url) FILTER (WHERE counted) AS endpoints,
         floor(extract(epoch FROM max(last_served_at)))::bigint AS last_served_at
    FROM (SELECT s.*,
                 s.served AND ($1::float8 IS NULL
                   OR s.last_served_at >= COALESCE($2::timestamptz, now()) - make_interval(secs => $1::float8 / 1000)
                 ) AS counted
            FROM served_models s) s
   WHERE true`;

function toModel(r: CatalogueRow): CatalogueModel {
  return {
    id: r.id,
    created: Number(r.created),
    owned_by: r.owned_by,
    max_model_len: r.max_model_len,
    endpoints: r.endpoints ?? [],
    last_served_at: Number(r.last_served_at),
  };
}

/**
 * The listing as stored: one entry per id (the first), ids PostgreSQL can hold, a context length
 * only when it is a positive 32-bit integer, `owned_by` defaulting to 'vllm'. Sorted by id, so two
 * writers insert one endpoint's rows in the same order.
 */
function normalise(models: readonly ListedModel[]): Array<{
  id: string;
  maxModelLen: number | null;
  ownedBy: string;
}> {
  const byId = new Map<string, { id: string; maxModelLen: number | null; ownedBy: string }>();
  for (const m of models) {
    if (typeof m?.id !== 'string' || m.id === '' || m.id.includes('\u0000') || byId.has(m.id)) continue;
    const len = m.max_model_len;
    const owner = m.owned_by;
    byId.set(m.id, {
      id: m.id,
      maxModelLen:
        typeof len === 'number' && Number.isInteger(len) && len > 0 && len <= INT4_MAX ? len : null,
      ownedBy: typeof owner === 'string' && owner !== '' && !owner.includes('\u0000') ? owner : 'vllm',
    });
  }
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
