/**
 * zod → the JSON Schema tools/list shows, in the spelling clients carry over best:
 * draft-7 (what the 1.x SDK's Ajv reads), every `type` a single name (a nullable field
 * is `anyOf: [{type: X}, {type: "null"}]`, never `type: [X, "null"]`, which
 * single-type dialects such as Gemini's reject), and no node that constrains nothing
 * (`{}` for "any JSON value" is spelled as the union of the JSON types). These are
 * the rules of MCP Inspector's `--strict` schema lint.
 */
import { z } from 'zod';

export type JsonSchema = Record<string, unknown>;

const JSON_TYPES = ['object', 'array', 'string', 'number', 'boolean', 'null'] as const;

/** Keywords that constrain a value; a node with none of them accepts anything. */
const CONSTRAINING = new Set([
  'type',
  'enum',
  'const',
  'anyOf',
  'oneOf',
  'allOf',
  'not',
  'properties',
  'additionalProperties',
  'required',
  'items',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'pattern',
  'format',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minProperties',
  'maxProperties',
  'propertyNames',
  'patternProperties',
  '$ref',
]);

export function portableJsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { target: 'draft-7', io }) as JsonSchema;
  return portable(rest);
}

function portable(node: JsonSchema): JsonSchema {
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if ((key === 'properties' || key === 'definitions' || key === '$defs' || key === 'patternProperties') && isObject(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, isObject(sub) ? portable(sub) : sub]));
    } else if ((key === 'anyOf' || key === 'oneOf' || key === 'allOf') && Array.isArray(value)) {
      out[key] = value.map((sub) => (isObject(sub) ? portable(sub) : sub));
    } else if (key === 'items' && Array.isArray(value)) {
      out[key] = value.map((sub) => (isObject(sub) ? portable(sub) : sub));
    } else if ((key === 'items' || key === 'additionalProperties' || key === 'not' || key === 'propertyNames') && isObject(value)) {
      out[key] = portable(value);
    } else {
      out[key] = value;
    }
  }
  if (Array.isArray(out.type)) {
    const branches = (out.type as string[]).map((type) => ({ type }));
    delete out.type;
    if (out.anyOf === undefined) out.anyOf = branches;
    else {
      // An anyOf already there must hold as well: both go under allOf.
      out.allOf = [...((out.allOf as unknown[] | undefined) ?? []), { anyOf: out.anyOf }, { anyOf: branches }];
      delete out.anyOf;
    }
  }
  if (!Object.keys(out).some((key) => CONSTRAINING.has(key))) out.anyOf = JSON_TYPES.map((type) => ({ type }));
  return out;
}

function isObject(value: unknown): value is JsonSchema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
