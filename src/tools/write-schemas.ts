// Writes schemas/*.schema.json and docs/modules.md from the modules (npm run schemas); a test keeps them in step.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { inventorySchema, playbookSchema } from '../config/schemas';
import { allModules } from '../modules/registry';
import type { JsonSchema } from '../modules/types';

function json(build: () => unknown): string {
  return `${JSON.stringify(build(), null, 2)}\n`;
}

function typeOf(s: JsonSchema): string {
  if (s.enum) return (s.enum as unknown[]).map((v) => `\`${String(v)}\``).join(' | ');
  if (s.anyOf || s.oneOf) return ((s.anyOf ?? s.oneOf) as JsonSchema[]).map(typeOf).join(' or ');
  const type = [s.type ?? 'any'].flat().join(' or ');
  return type === 'array' && s.items ? `list of ${typeOf(s.items as JsonSchema)}` : String(type);
}

function cell(text: unknown): string {
  return String(text ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** The argument reference of every module, as markdown. */
export function modulesReference(): string {
  const out = ['# Modules', '', 'Generated from the modules\' argument schemas by `npm run schemas`; do not edit.', ''];
  for (const m of allModules()) {
    const schema = m.schema;
    const required = new Set((schema.required as string[] | undefined) ?? []);
    out.push(`## ${m.name}`, '', String(schema.description ?? m.summary), '');
    out.push('| argument | type | required | default | description |', '|---|---|---|---|---|');
    for (const [name, s] of Object.entries((schema.properties ?? {}) as Record<string, JsonSchema>)) {
      out.push(`| \`${name}\` | ${cell(typeOf(s))} | ${required.has(name) ? 'yes' : ''} | ${s.default === undefined ? '' : `\`${cell(JSON.stringify(s.default))}\``} | ${cell(s.description)} |`);
    }
    const example = (schema.examples as unknown[] | undefined)?.[0];
    if (example) out.push('', '```yaml', `- ${m.name}:`, ...Object.entries(example as object).map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`), '```');
    out.push('');
  }
  return out.join('\n');
}

/** Generated files, by path from the project root. */
export const GENERATED: Record<string, () => string> = {
  'schemas/playbook.schema.json': () => json(playbookSchema),
  'schemas/inventory.schema.json': () => json(inventorySchema),
  'docs/modules.md': modulesReference,
};

if (require.main === module) {
  const root = join(__dirname, '..', '..', '..');
  for (const [path, build] of Object.entries(GENERATED)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), build());
    process.stdout.write(`wrote ${path}\n`);
  }
}
