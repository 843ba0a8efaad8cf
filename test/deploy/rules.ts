/** Policy checks as tables: each rule, keyed by what is wrong, tells whether a subject has it wrong. */
export type Rules<T> = Record<string, (x: T) => unknown>;

/** The rules each subject breaks, as `<where>: <what>`, once each. */
export function breaks<T>(subjects: T[], where: (x: T) => string, rules: Rules<T>): string[] {
  const found = subjects.flatMap((x) =>
    Object.entries(rules)
      .filter(([, bad]) => bad(x))
      .map(([what]) => `${where(x)}: ${what}`),
  );
  return [...new Set(found)];
}

/** The rules of one subject that fail, as their messages. */
export const failing = (rules: Rules<void>): string[] =>
  Object.entries(rules)
    .filter(([, bad]) => bad())
    .map(([what]) => what);
