/** Policy checks as tables: each rule names what is wrong and tells whether a subject has it wrong. */
export type Rule<T> = [string, (x: T) => unknown];

/** The rules each subject breaks, as `<where>: <what>`, once each. */
export function breaks<T>(subjects: T[], where: (x: T) => string, rules: Array<Rule<T>>): string[] {
  const found = subjects.flatMap((x) => rules.filter(([, bad]) => bad(x)).map(([what]) => `${where(x)}: ${what}`));
  return [...new Set(found)];
}

/** The rules of one subject that fail, as their messages. */
export const failing = (rules: Array<Rule<void>>): string[] =>
  rules.filter(([, bad]) => bad()).map(([what]) => what);
