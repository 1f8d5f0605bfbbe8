import type { FileContent } from '../connection/types';
import { holdsSecret } from '../secrets';
import { renderTemplateFile } from '../templates/render';
import { resolveTemplatePath } from '../templates/resolve';
import { fail, noop, type Diff, type ModuleDefinition } from './types';

export interface TemplateArgs {
  src: string;
  dest: string;
  owner?: string;
  group?: string;
  mode?: string;
  become?: string;
}

interface TemplateFacts {
  rendered: string | null;
  error?: string;
  current: FileContent | null;
}

export const templateModule: ModuleDefinition<TemplateArgs, TemplateFacts> = {
  name: 'template',
  summary: 'Render a Handlebars template to a file on the host, atomically, with owner and mode.',
  schema: {
    type: 'object',
    description: 'Render a Handlebars template (noEscape) to a file; changed only when content, owner or mode differ.',
    properties: {
      src: { type: 'string', description: 'Template file, relative to the playbook, its templates/ or the project templates/.', examples: ['postgresql.replication.conf.hbs'] },
      dest: { type: 'string', description: 'Absolute path of the file on the host.', examples: ['/etc/postgresql/15/main/conf.d/replication.conf'] },
      owner: { type: 'string', description: 'Owner of the file.', examples: ['postgres'] },
      group: { type: 'string', description: 'Group of the file.', examples: ['postgres'] },
      mode: { type: 'string', pattern: '^0?[0-7]{3,4}$', patternErrorMessage: "an octal mode in quotes, like '0640'", description: 'Octal mode, quoted.', examples: ['0640'] },
      become: { type: 'string', description: 'The user the file is written for: it owns a new file unless owner says otherwise (default: ansible_become_user when ansible_become is on, else the login user).', examples: ['postgres'] },
    },
    required: ['src', 'dest'],
    additionalProperties: false,
  },
  async check(ctx, args) {
    const current = await ctx.conn.readFile(args.dest);
    const path = resolveTemplatePath(args.src, ctx.playbookDir);
    if (!path) return { rendered: null, error: `template ${args.src} not found`, current };
    try {
      return { rendered: renderTemplateFile(path, ctx.vars), current };
    } catch (err) {
      return { rendered: null, error: `template ${args.src}: ${err instanceof Error ? err.message : String(err)}`, current };
    }
  },
  plan(args, facts) {
    if (facts.rendered === null) return fail(facts.error ?? `cannot render ${args.src}`);
    const { current } = facts;
    const mode = args.mode ? args.mode.padStart(4, '0') : undefined;
    const bytes = Buffer.from(facts.rendered, 'utf8');
    const gaps: string[] = [];
    if (!current) gaps.push('create');
    else {
      if (!current.content.equals(bytes)) gaps.push('content');
      if (args.owner && current.owner !== args.owner) gaps.push(`owner ${current.owner} -> ${args.owner}`);
      if (args.group && current.group !== args.group) gaps.push(`group ${current.group} -> ${args.group}`);
      if (mode && current.mode !== mode) gaps.push(`mode ${current.mode} -> ${mode}`);
    }
    if (gaps.length === 0) return noop(`${args.dest} is up to date`);
    const diffs: Diff[] = [{ path: args.dest, before: current ? current.content.toString('utf8') : '', after: facts.rendered }];
    // A new file that holds a secret (a value read from env.*, a secret argument) is readable by its owner only.
    const secret = holdsSecret(facts.rendered);
    const writeMode = mode ?? current?.mode ?? (secret ? '0600' : '0644');
    const othersRead = (parseInt(writeMode, 8) & 0o077) !== 0;
    const warnings = secret && othersRead ? [`${args.dest} holds a secret but its mode ${writeMode} lets others read it: set mode: '0600'`] : undefined;
    return {
      kind: 'change',
      summary: `${args.dest}: ${gaps.join(', ')}`,
      diffs,
      warnings,
      steps: [
        {
          description: `write ${args.dest} (mode ${writeMode})`,
          async apply(ctx) {
            await ctx.conn.writeFile(args.dest, bytes, { owner: args.owner ?? (current ? undefined : (args.become ?? ctx.settings?.taskUser)), group: args.group, mode: writeMode });
          },
        },
      ],
    };
  },
};
