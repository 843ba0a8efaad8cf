/**
 * A `bigint` column read as a number: PostgreSQL's driver returns bigint as text, and every value
 * these columns hold (bytes, token counts) is a safe integer. NULL stays null; the NOT NULL columns
 * never read one.
 */
export const bigintAsNumber = {
  to: (v: number | null): number | null => v,
  from: (v: string | null): number | null => (v === null ? null : Number(v)),
};
