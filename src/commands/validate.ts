import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ValidateOptions } from '../cli';
import { BadOptionsError, dedupeDiagnostics, ExitCode, InvalidInputError, type Diagnostic } from '../errors';
import { addPlaybookVars } from '../config/inventory';
import { loadPlaybook } from '../config/playbook';
import type { Inventory } from '../config/types';
import { planHostSettings } from '../executor/host-settings';
import { githubAnnotation } from '../reporters/github';
import { redact } from '../secrets';
import { loadExtraVars, playHostsOf, requireInventory } from './common';


/** Every playbook under the given paths; inventories, vars files (group_vars/, host_vars/ too) and templates are not playbooks. */
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
        if (/\.ya?ml$/.test(entry) && !/(^|\/)(inventory[^/]*|[^/]*vars[^/]*|(group|host)_vars\/.*|templates\/.*)$/.test(entry)) files.push(join(path, entry));
      }
  }
  return files.sort();
}

export async function validateCommand(o: ValidateOptions): Promise<number> {
  try {
    const inventory: Inventory | undefined = o.inventory ? requireInventory(o.inventory) : undefined;
    const files = playbookFiles(o.paths);
    const extra = loadExtraVars(o.extraVars);
    const errors: Diagnostic[] = [...extra.errors];
    for (const file of files) {
      // Each playbook sees the group_vars/ and host_vars/ beside it, as it would in a run.
      const withVars = inventory ? addPlaybookVars(inventory, dirname(file)) : { value: undefined, errors: [] };
      errors.push(...withVars.errors);
      const inv = withVars.value ?? undefined;
      const loaded = loadPlaybook(file, { inventory: inv, extraVars: extra.vars });
      errors.push(...loaded.errors);
      if (inv && loaded.value) errors.push(...planHostSettings({ inventory: inv, extraVars: extra.vars, cli: { acceptNewHostKeys: false } }, playHostsOf(loaded.value, inv, extra.vars)).errors);
    }
    if (errors.length > 0) throw new InvalidInputError(dedupeDiagnostics(errors));
    process.stdout.write(`${files.length} playbook${files.length === 1 ? '' : 's'} valid${inventory ? ` against ${inventory.file}` : ''}\n`);
    return ExitCode.ok;
  } catch (err) {
    if (o.format !== 'github' || !(err instanceof InvalidInputError)) throw err;
    // GitHub reads workflow commands from stdout; the count goes to stderr as in the text format.
    for (const d of err.diagnostics) process.stdout.write(`${githubAnnotation({ ...d, message: redact(d.message) })}\n`);
    const n = err.diagnostics.length;
    process.stderr.write(`pgplay: ${n} error${n === 1 ? '' : 's'} found; nothing was run\n`);
    return err.exitCode;
  }
}
