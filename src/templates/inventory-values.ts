// Inventory values (inventory files, group_vars/, host_vars/) are written for Ansible: read as Jinja's common
// subset first, and as pgplay's Handlebars when they are not Jinja at all ({{ default a 'b' }}).
import { parseTemplate, TemplateError } from './expressions';
import { holdsJinja, parseJinja, renderJinja } from './jinja';
import { renderString } from './render';

type Scope = Record<string, unknown>;

export function renderInventoryValue(value: unknown, scope: Scope): unknown {
  if (typeof value === 'string') return renderInventoryString(value, scope);
  if (Array.isArray(value)) return value.map((v) => renderInventoryValue(v, scope));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = renderInventoryValue(v, scope);
    return out;
  }
  return value;
}

function renderInventoryString(text: string, scope: Scope): unknown {
  if (!holdsJinja(text)) return text;
  const jinja = parseJinja(text);
  if (jinja) return renderJinja(text, jinja, scope);
  try {
    parseTemplate(text);
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    throw new TemplateError(`cannot read this value as Jinja or as a Handlebars expression (${err.message.replace(/^template syntax error: /, '')})`, err.where);
  }
  return renderString(text, scope);
}
