// Handlebars' parse errors said for people, at the place to change: an unclosed block at its {{#...}}, an
// unclosed ( at itself, and Jinja habits (==, |, ['key']) named as such with what pgplay writes instead.

/** 1-based line, 0-based column, as Handlebars counts. */
export interface TemplatePlace {
  line: number;
  column: number;
}

export function explainSyntaxError(raw: string, text: string, at: TemplatePlace | undefined): { message: string; where?: TemplatePlace } {
  const say = (message: string, where = at) => ({ message: `template syntax error: ${message}`, where });
  const last = raw.split('\n').pop() ?? raw;
  const mismatch = /^(\S+) doesn't match (\S+) - (\d+):(\d+)$/.exec(last);
  if (mismatch) {
    const close = text.search(new RegExp(`\\{\\{~?\\s*/\\s*${mismatch[2].replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`));
    return say(`{{/${mismatch[2]}}} does not close {{#${mismatch[1]}}} (opened on line ${mismatch[3]})`, close >= 0 ? placeOf(text, close) : at);
  }
  const m = /Expecting (.*), got '(\w+)'/.exec(last);
  if (!m) return say(last);
  const [, expected, got] = m;
  const offset = at ? offsetOf(text, at) : text.length;
  const ahead = text.slice(offset);
  if (got === 'EOF' && /OPEN_ENDBLOCK/.test(expected)) {
    const open = unclosedBlock(text);
    if (open) return say(`{{#${open.name}}} is never closed: add {{/${open.name}}}`, open.where);
  }
  if (got === 'OPEN_ENDBLOCK' && /'EOF'/.test(expected)) return say(`${/^\{\{~?\s*\/\s*[\w.-]+\s*~?\}\}/.exec(ahead)?.[0] ?? 'this {{/...}}'} closes no block`);
  if (/^\s*[=!]=/.test(ahead)) return say(`'${ahead.trim().slice(0, 2)}' is Jinja: compare with a helper, as in eq a b (ne for !=)`);
  if (got === 'CLOSE_BLOCK_PARAMS' || /^\s*\|/.test(ahead)) return say("filters (|) are Jinja: use a helper, as in default x 'y' or join list ','");
  if (/\[\s*['"]/.test(mustacheAround(text, offset))) return say("write groups.replicas, not groups['replicas'] (and a list item as .[0])");
  if (got === 'CLOSE' && /CLOSE_SEXPR/.test(expected)) {
    const paren = unclosedParen(text, offset);
    return say("'(' is not closed by ')'", paren ?? at);
  }
  if (/'CLOSE'/.test(expected) && got !== 'ID') {
    const found = got === 'EOF' ? 'the end of the text' : got === 'INVALID' ? 'a character that cannot appear here' : got.toLowerCase().replace(/_/g, ' ');
    return say(`'{{' is not closed by '}}' (found ${found})`);
  }
  if (got === 'NUMBER' && /'ID'/.test(expected)) return say('a list index is written .[0], not .0');
  return say(`unexpected ${got === 'EOF' ? 'the end of the text' : got === 'INVALID' ? 'character' : got.toLowerCase().replace(/_/g, ' ')}`);
}

function offsetOf(text: string, where: TemplatePlace): number {
  const lines = text.split('\n');
  return lines.slice(0, where.line - 1).reduce((n, l) => n + l.length + 1, 0) + where.column;
}

function placeOf(text: string, offset: number): TemplatePlace {
  const before = text.slice(0, offset);
  return { line: before.split('\n').length, column: offset - (before.lastIndexOf('\n') + 1) };
}

/** The text of the {{ ... }} that holds `offset`. */
function mustacheAround(text: string, offset: number): string {
  const start = text.lastIndexOf('{{', offset);
  const end = text.indexOf('}}', offset);
  return start < 0 ? '' : text.slice(start, end < 0 ? undefined : end);
}

/** The last {{#block}} not closed by its {{/block}}. */
function unclosedBlock(text: string): { name: string; where: TemplatePlace } | null {
  const stack: Array<{ name: string; offset: number }> = [];
  for (const m of text.matchAll(/\{\{~?\s*([#/])\s*([\w.-]+)/g)) {
    if (m[1] === '#') stack.push({ name: m[2], offset: m.index ?? 0 });
    else stack.pop();
  }
  const open = stack.pop();
  return open ? { name: open.name, where: placeOf(text, open.offset) } : null;
}

/** The ( left open in the {{ }} that ends at `offset`, skipping quoted strings. */
function unclosedParen(text: string, offset: number): TemplatePlace | null {
  const start = text.lastIndexOf('{{', offset);
  if (start < 0) return null;
  const open: number[] = [];
  let quote: string | null = null;
  for (let i = start; i < offset; i++) {
    const c = text[i];
    if (quote) quote = c === quote ? null : quote;
    else if (c === '"' || c === "'") quote = c;
    else if (c === '(') open.push(i);
    else if (c === ')') open.pop();
  }
  const last = open.pop();
  return last === undefined ? null : placeOf(text, last);
}
