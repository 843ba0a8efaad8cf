/**
 * A stand-in for an object that exists only once a `beforeAll` has run, so a fixture can hand out
 * `app`, `sim`, `a`... when a describe block is declared and the tests keep using plain names.
 * Every property read goes to the real object (methods bound to it, so private fields work).
 */
export interface LateBound<T extends object> {
  readonly ref: T;
  set(value: T): void;
}

export function lateBound<T extends object>(what: string): LateBound<T> {
  let target: T | undefined;
  const ref = new Proxy({} as T, {
    get(_, prop) {
      if (target === undefined) {
        // Not a thenable, nor anything else until started: `await` and inspection must not throw.
        if (prop === 'then' || typeof prop === 'symbol') return undefined;
        throw new Error(`${what} was used before the beforeAll that starts it ran`);
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
    set(_, prop, value) {
      if (target === undefined) throw new Error(`${what} was used before the beforeAll that starts it ran`);
      return Reflect.set(target, prop, value, target);
    },
    has: (_, prop) => target !== undefined && prop in target,
  });
  return { ref, set: (value) => void (target = value) };
}
