import { existsSync, readdirSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';

const searchDirs = (playbookDir: string) => [playbookDir, join(playbookDir, 'templates'), join(playbookDir, '..', 'templates')];

/** Where a template named in a playbook lives: beside the playbook, in its templates/, or the project's templates/. */
export function resolveTemplatePath(src: string, playbookDir: string): string | null {
  if (isAbsolute(src)) return existsSync(src) ? src : null;
  for (const dir of searchDirs(playbookDir)) {
    const c = join(dir, src);
    if (existsSync(c)) return resolve(c);
  }
  return null;
}

/** The names a template could have been given, for "did you mean" when one is not found. */
export function templateNames(playbookDir: string): string[] {
  return searchDirs(playbookDir).flatMap((dir) => {
    try {
      return readdirSync(dir, { recursive: true }).map(String);
    } catch {
      return [];
    }
  });
}
