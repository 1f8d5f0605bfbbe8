// GitHub Actions workflow commands: one `::error` line per problem, shown as an annotation on the pull request.
import type { Diagnostic } from '../errors';

/** The message part of a workflow command: %, CR and LF are escaped. */
export function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** A property value (file=..., line=...): also : and , which separate properties. */
export function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

export function githubAnnotation(d: Diagnostic): string {
  return `::error file=${escapeProperty(d.file)},line=${d.line},col=${d.col}::${escapeData(d.message)}`;
}
