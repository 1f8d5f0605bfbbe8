// The words of the shipped schemas as editors show them. yaml-language-server renders `description` as plain
// text (backticks show literally) and `markdownDescription` as markdown, and it writes every optional property
// that has a `default` into the snippet of its parent: so code goes to markdownDescription, and defaults to words.
import type { JsonSchema } from '../modules/types';

/** Keys whose value is a map of names to schemas. */
const SCHEMA_MAPS = ['properties', 'patternProperties', 'definitions', 'dependencies'];
/** Keys whose value is a schema, or a list of schemas. */
const SCHEMA_VALUES = ['additionalProperties', 'items', 'additionalItems', 'contains', 'propertyNames', 'not', 'if', 'then', 'else', 'anyOf', 'oneOf', 'allOf'];

const isSchema = (v: unknown): v is JsonSchema => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Text without markdown code marks, for editors that show descriptions as they are. */
export function plainText(markdown: string): string {
  return markdown.replace(/`([^`]*)`/g, '$1');
}

function valueText(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/**
 * The schema as editors should read it, at every depth: a description with code marks becomes a plain
 * `description` plus a `markdownDescription`, and the default of an optional property moves into its words.
 */
export function forEditors(schema: JsonSchema): JsonSchema {
  return walk(schema, false);
}

function walk(schema: JsonSchema, optional: boolean): JsonSchema {
  const out: JsonSchema = { ...schema };
  const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
  for (const key of SCHEMA_MAPS) {
    const map = schema[key];
    if (!isSchema(map)) continue;
    out[key] = Object.fromEntries(Object.entries(map).map(([name, s]) => [name, isSchema(s) ? walk(s, key === 'properties' && !required.has(name)) : s]));
  }
  for (const key of SCHEMA_VALUES) {
    const value = schema[key];
    if (Array.isArray(value)) out[key] = value.map((s) => (isSchema(s) ? walk(s, false) : s));
    else if (isSchema(value)) out[key] = walk(value, false);
  }
  let markdown = typeof schema.markdownDescription === 'string' ? schema.markdownDescription : typeof schema.description === 'string' ? schema.description : undefined;
  if (optional && out.default !== undefined) {
    if (markdown !== undefined && !/default/i.test(markdown)) markdown = `${markdown.replace(/\s*$/, '')} Default: \`${valueText(out.default)}\`.`;
    else if (markdown === undefined) markdown = `Default: \`${valueText(out.default)}\`.`;
    delete out.default;
  }
  if (markdown !== undefined) {
    out.description = plainText(markdown);
    if (markdown.includes('`')) out.markdownDescription = markdown;
  }
  return out;
}
