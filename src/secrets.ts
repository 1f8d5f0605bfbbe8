// Secrets are remembered here once and masked everywhere text leaves pgplay (no_log for every result).
const MASK = '********';
const known = new Set<string>();

/** A value that must never be printed; String() and JSON give the mask. */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
    rememberSecret(value);
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return MASK;
  }
  toJSON(): string {
    return MASK;
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return MASK;
  }
}

export function rememberSecret(value: string): void {
  // Very short strings would mask ordinary words; a password that short is refused elsewhere.
  if (value.length >= 4) known.add(value);
}

/** Does the text hold a known secret (so it must be stored and sent with care)? */
export function holdsSecret(text: string): boolean {
  for (const s of known) if (text.includes(s)) return true;
  return false;
}

/** Replace every known secret in text with the mask. */
export function redact(text: string): string {
  if (known.size === 0 || text.length === 0) return text;
  let out = text;
  for (const s of known) if (out.includes(s)) out = out.split(s).join(MASK);
  return out;
}

/** Deep copy of a value with every known secret masked in its strings. */
export function redactValue<T>(value: T): T {
  if (typeof value === 'string') return redact(value) as T;
  if (value instanceof Secret) return MASK as T;
  if (Array.isArray(value)) return value.map(redactValue) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactValue(v);
    return out as T;
  }
  return value;
}

export const SECRET_MASK = MASK;
