import Ajv, { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import spec from '../fixtures/openai-files-batches.openapi.json';

type Schema = Record<string, unknown>;

/**
 * OpenAI's reference marks few fields nullable although its own examples (and API) return null for
 * unset ones; as DESIGN.md says, properties outside `required` are treated as nullable.
 */
function relax(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(relax);
  if (typeof schema !== 'object' || schema === null) return schema;
  const s: Schema = {};
  for (const [k, v] of Object.entries(schema as Schema)) {
    s[k] =
      k === 'properties'
        ? Object.fromEntries(Object.entries(v as Schema).map(([p, ps]) => [p, relax(ps)]))
        : relax(v);
  }
  if (s.properties && typeof s.properties === 'object') {
    const required = new Set((s.required as string[] | undefined) ?? []);
    for (const [name, prop] of Object.entries(s.properties as Schema)) {
      if (!required.has(name)) (s.properties as Schema)[name] = { anyOf: [prop, { type: 'null' }] };
    }
  }
  if (s.$ref && typeof s.$ref === 'string')
    s.$ref = s.$ref.replace('#/components/schemas/', 'openai#/components/schemas/');
  return s;
}

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addFormat('unixtime', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= 0 });
for (const key of ['x-stainless-const', 'x-oaiMeta', 'x-oaiTypeLabel', 'x-oaiExpandable'])
  ajv.addKeyword(key);
ajv.addSchema({ $id: 'openai', components: relax((spec as Schema).components) as Schema }, 'openai');

const cache = new Map<string, ValidateFunction>();

/** Throws with ajv's errors when `value` does not conform to the named reference schema. */
export function assertConforms(schemaName: string, value: unknown): void {
  let validate = cache.get(schemaName);
  if (!validate) {
    validate = ajv.getSchema(`openai#/components/schemas/${schemaName}`);
    if (!validate) throw new Error(`no schema ${schemaName} in the reference`);
    cache.set(schemaName, validate);
  }
  if (!validate(value)) {
    throw new Error(
      `${schemaName} does not conform: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(value).slice(0, 2000)}`,
    );
  }
}
