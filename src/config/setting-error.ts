// A host setting that cannot be used, said about the variable (or ssh_config line) that holds it; the caller
// turns it into a file:line:col message at that variable's place.
import type { SourceRef } from './types';

export class SettingError extends Error {
  constructor(
    message: string,
    /** The variable whose value is wrong. */
    readonly variable?: string,
    /** Where in that variable's text, when the problem is one part of it (an ssh option). */
    readonly offset?: number,
    /** The place itself, when it is not a variable (an ssh_config line). */
    readonly source?: SourceRef,
  ) {
    super(message);
    this.name = 'SettingError';
  }
}
