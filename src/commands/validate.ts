import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ValidateOptions } from '../cli';
import { BadOptionsError, ExitCode, InvalidInputError, type Diagnostic } from '../errors';
import { loadPlaybook } from '../config/playbook';
import type { Inventory } from '../config/types';
import { requireInventory } from './common';

/** Every playbook under the given paths; inventories, vars files and templates are not playbooks. */
function playbookFiles(paths: string[]): string[] {
  const files: string[] = [];
  for (const path of paths) {
    let stat;
    try {
      stat = statSync(path);
    } catch {
      throw new BadOptionsError(`${path} not found`);
    }
    if (stat.isFile()) files.push(path);
    else
      for (const entry of readdirSync(path, { recursive: true }) as string[]) {
        if (/\.ya?ml$/.test(entry) && !/(^|\/)(inventory[^/]*|.*vars[^/]*|templates\/.*)$/.test(entry)) files.push(join(path, entry));
      }
  }
  return files.sort();
}

export async function validateCommand(o: ValidateOptions): Promise<number> {
  const inventory: Inventory | undefined = o.inventory ? requireInventory(o.inventory) : undefined;
  const files = playbookFiles(o.paths);
  const errors: Diagnostic[] = [];
  for (const file of files) errors.push(...loadPlaybook(file, { inventory, extraVars: {} }).errors);
  if (errors.length > 0) throw new InvalidInputError(errors);
  process.stdout.write(`${files.length} playbook${files.length === 1 ? '' : 's'} valid${inventory ? ` against ${inventory.file}` : ''}\n`);
  return ExitCode.ok;
}
