// Files pgplay ships beside its code (playbooks/, schemas/, templates/), found from the code itself so that they
// are found in a checkout and in an installed package alike, whatever the working directory.
import { join } from 'node:path';

/** The package's root: this file is dist/src/package-files.js. */
export const PACKAGE_ROOT = join(__dirname, '..', '..');

export function packageFile(...parts: string[]): string {
  return join(PACKAGE_ROOT, ...parts);
}
