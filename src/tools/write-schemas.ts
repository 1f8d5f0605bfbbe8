// Writes schemas/playbook.schema.json and schemas/inventory.schema.json from the modules (npm run schemas).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inventorySchema, playbookSchema } from '../config/schemas';

export const SCHEMA_FILES = {
  'playbook.schema.json': playbookSchema,
  'inventory.schema.json': inventorySchema,
};

export function schemaText(build: () => unknown): string {
  return `${JSON.stringify(build(), null, 2)}\n`;
}

if (require.main === module) {
  const dir = join(__dirname, '..', '..', '..', 'schemas');
  mkdirSync(dir, { recursive: true });
  for (const [name, build] of Object.entries(SCHEMA_FILES)) {
    writeFileSync(join(dir, name), schemaText(build));
    process.stdout.write(`wrote schemas/${name}\n`);
  }
}
