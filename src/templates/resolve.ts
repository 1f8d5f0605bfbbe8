import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';

/** Where a template named in a playbook lives: beside the playbook, in its templates/, or the project's templates/. */
export function resolveTemplatePath(src: string, playbookDir: string): string | null {
  if (isAbsolute(src)) return existsSync(src) ? src : null;
  const candidates = [join(playbookDir, src), join(playbookDir, 'templates', src), join(playbookDir, '..', 'templates', src)];
  for (const c of candidates) if (existsSync(c)) return resolve(c);
  return null;
}
