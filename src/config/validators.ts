// Schema validators. Compiling the playbook schema with ajv costs ~100 ms, so the build writes them as code
// (validators.generated.js, see src/tools/build-validators.ts); a stale or missing file falls back to ajv.
import { createHash } from 'node:crypto';
import type { ValidateFunction } from 'ajv';
import type { JsonSchema, ModuleDefinition } from '../modules/types';
import { inventorySchema, playbookSchema } from './schemas';

export const AJV_OPTIONS = { allErrors: true, verbose: true, strict: false, allowUnionTypes: true } as const;

/** Every schema pgplay validates against, by the name its validator is kept under. */
export function allSchemas(modules: ModuleDefinition[]): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = { playbook: playbookSchema(), inventory: inventorySchema() };
  for (const m of modules) out[argumentsKey(m)] = m.schema;
  return out;
}

function argumentsKey(m: ModuleDefinition): string {
  return `arguments_${m.name}`;
}

export function schemaHash(schema: JsonSchema): string {
  return createHash('sha1').update(JSON.stringify(schema)).digest('hex');
}

type Generated = { validators: Record<string, ValidateFunction>; hashes: Record<string, string> };
let generated: Generated | null | undefined;
const ready = new Map<string, ValidateFunction>();
let ajv: import('ajv').default | null = null;

/**
 * True in the bundle (src/tools/bundle.ts defines it): the build checked there that every generated validator was made
 * from the schema in the bundle beside it, so a start need not build the schemas and hash them again (about 10 ms).
 */
declare const PGPLAY_BUNDLE: boolean | undefined;
const inCheckedBundle = typeof PGPLAY_BUNDLE !== 'undefined' && PGPLAY_BUNDLE === true;

function generatedValidators(): Generated | null {
  if (generated === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      generated = require('./validators.generated') as Generated;
    } catch {
      generated = null;
    }
  }
  return generated;
}

/** The schemas whose generated validator was made from another version of them (the build refuses to bundle these). */
export function staleValidators(modules: ModuleDefinition[]): string[] {
  const made = generatedValidators();
  return Object.entries(allSchemas(modules))
    .filter(([name, schema]) => !made?.validators[name] || made.hashes[name] !== schemaHash(schema))
    .map(([name]) => name);
}

function validator(name: string, build: () => JsonSchema): ValidateFunction {
  const known = ready.get(name);
  if (known) return known;
  const made = generatedValidators();
  const checked = inCheckedBundle ? made?.validators[name] : undefined;
  if (checked) {
    ready.set(name, checked);
    return checked;
  }
  const schema = build();
  let validate = made && made.hashes[name] === schemaHash(schema) ? made.validators[name] : undefined;
  if (!validate) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const Ajv = (require('ajv') as typeof import('ajv')).default;
    ajv ??= new Ajv(AJV_OPTIONS);
    validate = ajv.compile(schema);
  }
  ready.set(name, validate);
  return validate;
}

export const playbookValidator = () => validator('playbook', playbookSchema);
export const inventoryValidator = () => validator('inventory', inventorySchema);
export const argumentsValidator = (m: ModuleDefinition) => validator(argumentsKey(m), () => m.schema);
