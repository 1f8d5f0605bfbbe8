// INI inventory values typed as Ansible types them: Python's ast.literal_eval, and the text itself when that fails.
// So 5432 is a number, True a boolean, "x" and 'x' strings without their quotes, [1, 2] a list; true, yes and
// /var/lib stay strings, as they do for Ansible.

export type LiteralResult = { ok: true; value: unknown } | { ok: false };

class NotLiteral extends Error {}

/** The value of a Python literal expression, or { ok: false } when the text is not one. */
export function pythonLiteral(text: string): LiteralResult {
  const p = new Reader(text);
  try {
    p.space();
    if (p.done()) return { ok: false };
    const first = p.value();
    p.space();
    let value: unknown = first;
    if (p.peek() === ',') {
      const items = [first];
      while (p.peek() === ',') {
        p.next();
        p.space();
        if (p.done()) break;
        items.push(p.value());
        p.space();
      }
      value = items;
    }
    if (!p.done()) return { ok: false };
    return { ok: true, value };
  } catch (err) {
    if (err instanceof NotLiteral) return { ok: false };
    throw err;
  }
}

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v', '0': '\0', '\n': '' };

class Reader {
  i = 0;
  constructor(readonly text: string) {}

  peek(): string {
    return this.text[this.i] ?? '';
  }
  next(): string {
    return this.text[this.i++] ?? '';
  }
  done(): boolean {
    return this.i >= this.text.length;
  }
  fail(): never {
    throw new NotLiteral();
  }

  /** Whitespace, and a # comment to the end of the text (literal_eval reads Python source). */
  space(): void {
    for (;;) {
      while (/[ \t\r\n]/.test(this.peek()) && !this.done()) this.i++;
      if (this.peek() === '#') this.i = this.text.length;
      else return;
    }
  }

  value(): unknown {
    this.space();
    const c = this.peek();
    if (c === '[') return this.sequence('[', ']');
    if (c === '(') return this.sequence('(', ')');
    if (c === '{') return this.mapping();
    if (c === '-' || c === '+') {
      this.next();
      this.space();
      const n = this.value();
      if (typeof n !== 'number') this.fail();
      return c === '-' ? -n : n;
    }
    if (/[0-9.]/.test(c)) return this.number();
    const prefix = /^([rRuUbB]{0,2})(['"])/.exec(this.text.slice(this.i));
    if (prefix && (prefix[1] === '' || /^(r|u|b|rb|br)$/i.test(prefix[1]))) {
      let out = '';
      // Adjacent string literals are one string, as in Python.
      while (/^([rRuUbB]{0,2})(['"])/.test(this.text.slice(this.i))) {
        out += this.string();
        this.space();
      }
      return out;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.text.slice(this.i))?.[0];
    if (word === 'True' || word === 'False' || word === 'None') {
      this.i += word.length;
      return word === 'True' ? true : word === 'False' ? false : null;
    }
    return this.fail();
  }

  sequence(open: string, close: string): unknown[] {
    this.next();
    const items: unknown[] = [];
    let comma = false;
    for (;;) {
      this.space();
      if (this.peek() === close) {
        this.next();
        // (x) is x, not a tuple; (x,) and [x] are sequences.
        if (open === '(' && items.length === 1 && !comma) return items[0] as unknown[];
        return items;
      }
      if (this.done()) this.fail();
      items.push(this.value());
      this.space();
      comma = false;
      if (this.peek() === ',') {
        this.next();
        comma = true;
      } else if (this.peek() !== close) this.fail();
    }
  }

  mapping(): unknown {
    this.next();
    const out: Record<string, unknown> = {};
    const set: unknown[] = [];
    let kind: 'dict' | 'set' | null = null;
    for (;;) {
      this.space();
      if (this.peek() === '}') {
        this.next();
        return kind === 'set' ? set : out;
      }
      if (this.done()) this.fail();
      const key = this.value();
      this.space();
      if (this.peek() === ':' && kind !== 'set') {
        kind = 'dict';
        this.next();
        const value = this.value();
        if (typeof key === 'object' && key !== null) this.fail();
        out[String(key)] = value;
      } else if (kind !== 'dict') {
        kind = 'set';
        set.push(key);
      } else this.fail();
      this.space();
      if (this.peek() === ',') this.next();
      else if (this.peek() !== '}') this.fail();
    }
  }

  number(): number {
    const rest = this.text.slice(this.i);
    const based = /^0([xX][0-9a-fA-F_]+|[oO][0-7_]+|[bB][01_]+)/.exec(rest);
    if (based) {
      this.i += based[0].length;
      const digits = based[1].slice(1).replace(/_/g, '');
      const radix = { x: 16, o: 8, b: 2 }[based[1][0].toLowerCase() as 'x' | 'o' | 'b'];
      return parseInt(digits, radix);
    }
    const m = /^(?:\d(?:_?\d)*)?(?:\.(?:\d(?:_?\d)*)?)?(?:[eE][+-]?\d(?:_?\d)*)?/.exec(rest);
    const literal = m?.[0] ?? '';
    if (literal === '' || literal === '.' || /^[eE]/.test(literal)) this.fail();
    // 0123 is not a Python 3 literal; j makes a complex number, which has no YAML or JSON form.
    if (/^0\d/.test(literal.replace(/_/g, '')) && !/[.eE]/.test(literal)) this.fail();
    this.i += literal.length;
    if (/^[jJA-Za-z_]/.test(this.peek())) this.fail();
    return Number(literal.replace(/_/g, ''));
  }

  string(): string {
    const prefix = /^[rRuUbB]{0,2}/.exec(this.text.slice(this.i))![0];
    this.i += prefix.length;
    const raw = /r/i.test(prefix);
    const q = this.peek();
    const triple = this.text.startsWith(q.repeat(3), this.i);
    const close = triple ? q.repeat(3) : q;
    this.i += close.length;
    let out = '';
    for (;;) {
      if (this.done()) this.fail();
      if (this.text.startsWith(close, this.i)) {
        this.i += close.length;
        return out;
      }
      const c = this.next();
      if (c === '\n' && !triple) this.fail();
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.next();
      if (raw) {
        out += `\\${e}`;
        continue;
      }
      if (e in ESCAPES) out += ESCAPES[e];
      else if (e === 'x' || e === 'u' || e === 'U') {
        const len = e === 'x' ? 2 : e === 'u' ? 4 : 8;
        const hex = this.text.slice(this.i, this.i + len);
        if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) this.fail();
        out += String.fromCodePoint(parseInt(hex, 16));
        this.i += len;
      } else out += `\\${e}`;
    }
  }
}
