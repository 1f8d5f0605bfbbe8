// The firewall module: let a port in from a list of sources, on whichever firewall the host runs (ufw when active,
// else firewalld when running, else nftables when it has an input chain that drops). The rules a task owns carry
// its comment; a source that leaves the list loses its rule; rules pgplay did not make are never touched.
import { byAddress, canonicalSource, COMMENT, findProgram, type FirewallBackend, type PortRule, type Proto } from './firewalls/common';
import { firewalldCommands, readFirewalld, type FirewalldFacts } from './firewalls/firewalld';
import { nftDeleteCommand, nftInsertCommands, nftScript, readNft, type NftFacts } from './firewalls/nftables';
import { readUfw, ufwRuleArgv, ufwSources } from './firewalls/ufw';
import { fail, noop, type ModuleDefinition, type Plan, type Step, type TaskContext } from './types';

export interface FirewallArgs {
  port: number;
  proto?: Proto;
  from: string[];
  comment?: string;
  backend?: 'auto' | FirewallBackend;
  zone?: string;
}

export interface FirewallFacts {
  host: string;
  backend: FirewallBackend | null;
  /** The backend filters now (false only when `backend` named one that is not active). */
  active: boolean;
  /** What pgplay found, for the message: which firewall is active, or why none is. */
  status: string;
  program?: string;
  /** Sources this task's rules let in now (on nftables: in every chain that must accept them). */
  owned: string[];
  /** Sources rules pgplay did not make let in on the port ('any': every address). */
  others: string[];
  /** ufw's default incoming policy lets everything in. */
  defaultAllows?: boolean;
  nft?: NftFacts;
  firewalld?: FirewalldFacts;
}

const DEFAULT_COMMENT = 'pgplay';

function portRule(args: FirewallArgs): PortRule {
  return { port: Number(args.port), proto: args.proto ?? 'tcp', comment: args.comment ?? DEFAULT_COMMENT };
}

function sourceProblems(from: unknown): string[] {
  if (!Array.isArray(from)) return [];
  return from.filter((s) => typeof s === 'string' && !s.includes('{{') && canonicalSource(s) === null).map((s) => `'${s}' is not an address or a network (10.0.0.12, 10.0.0.0/24, 2001:db8::1, any)`);
}

export const firewallModule: ModuleDefinition<FirewallArgs, FirewallFacts> = {
  name: 'firewall',
  summary: 'Let a port in from a list of addresses only, on the firewall the host runs (ufw, firewalld or nftables); nothing when none is active.',
  schema: {
    type: 'object',
    description: [
      'The firewall is the one the host runs: ufw when `ufw status` says active; else firewalld when `firewall-cmd --state` says running; else nftables when its ruleset has a filter chain on the input hook that drops (`backend` picks one).',
      'When none is active the task does nothing and says so, as the guide does.',
      'Each source in `from` gets a rule that accepts the port from it (ufw: `ufw allow proto tcp from ADDR to any port PORT comment COMMENT`; nftables: a rule at the top of each input chain that drops, with the comment; firewalld: an entry of an ipset named from the comment, port and protocol, accepted by one rich rule in the zone, then a reload).',
      "The task owns the rules with its comment on its port: a source that leaves `from` (a replica removed from the inventory) loses its rule. Rules pgplay did not make are left as they are; a source one of them already lets in gets no second rule, and a rule that lets the port in from anywhere is reported.",
      'nftables rules are made in the running ruleset: save it (/etc/nftables.conf) to keep them after a reboot.',
    ].join(' '),
    properties: {
      port: { type: 'integer', minimum: 1, maximum: 65535, description: 'The port to let in.', examples: [5432, '{{ pg_port }}'] },
      proto: { type: 'string', enum: ['tcp', 'udp'], default: 'tcp', description: 'Its protocol.' },
      from: {
        type: 'array',
        items: { type: 'string' },
        description: 'Addresses or networks allowed in (IPv4 or IPv6, CIDR); `any` opens the port to every address (with a warning). An empty list removes every rule of this task.',
        examples: [['10.0.0.12', '10.0.0.13'], "{{ each_hostvar groups.replicas 'pg_client_address' 'pg_address' }}"],
      },
      comment: { type: 'string', pattern: COMMENT.source, patternErrorMessage: 'letters, digits, space . _ -, at most 20', default: DEFAULT_COMMENT, description: "Marks this task's rules: the rules with it on this port are the ones the task adds and removes." },
      backend: { type: 'string', enum: ['auto', 'ufw', 'firewalld', 'nftables'], default: 'auto', description: 'The firewall to use; auto finds the active one.' },
      zone: { type: 'string', description: "firewalld's zone (default: its default zone).", examples: ['public'] },
    },
    required: ['port', 'from'],
    additionalProperties: false,
    examples: [{ port: 5432, from: ['10.0.0.12', '10.0.0.13'] }],
  },
  validate(args) {
    return sourceProblems(args.from).map((message) => ({ arg: 'from', message }));
  },
  async check(ctx, args) {
    const rule = portRule(args);
    const want = args.backend ?? 'auto';
    const notes: string[] = [];
    const base = { host: ctx.name, owned: [] as string[], others: [] as string[] };
    // Where each backend's program is: looked up together (one round trip) for those this task may use, each
    // answer (or error) taken only when that backend's turn comes.
    const lookup = (name: string, used: boolean) => {
      const found = used ? findProgram(ctx.conn, name) : Promise.resolve(null);
      found.catch(() => undefined);
      return found;
    };
    const ufwProgram = lookup('ufw', want === 'auto' || want === 'ufw');
    const firewallCmd = lookup('firewall-cmd', want === 'auto' || want === 'firewalld');
    const nftProgram = lookup('nft', want === 'auto' || want === 'nftables');
    if (want === 'auto' || want === 'ufw') {
      const program = await ufwProgram;
      if (program) {
        const { status, tuples } = await readUfw(ctx, program);
        if (status.active || want === 'ufw') {
          const sources = ufwSources(tuples, rule);
          return { ...base, backend: 'ufw', program, active: status.active, status: status.active ? 'ufw is active' : 'ufw is inactive', ...sources, defaultAllows: status.incoming === 'allow' };
        }
        notes.push('ufw is inactive');
      } else notes.push('ufw is not installed');
    }
    if (want === 'auto' || want === 'firewalld') {
      const program = await firewallCmd;
      const state = program ? await ctx.conn.run([program, '--state'], { env: { LC_ALL: 'C' }, timeoutMs: 30_000 }) : null;
      if (program && (state?.stdout.trim() === 'running' || want === 'firewalld')) {
        if (state?.stdout.trim() !== 'running') return { ...base, backend: 'firewalld', program, active: false, status: 'firewalld is not running' };
        const fw = await readFirewalld(ctx, program, rule, args.zone);
        const owned = fw.ipsets.filter((s) => s.ruleExists).flatMap((s) => s.entries);
        return { ...base, backend: 'firewalld', program, active: true, status: `firewalld is running (zone ${fw.zone})`, owned, others: fw.others, firewalld: fw };
      }
      notes.push(program ? 'firewalld is not running' : 'firewalld is not installed');
    }
    if (want === 'auto' || want === 'nftables') {
      const program = await nftProgram;
      if (program) {
        const r = await ctx.conn.run([program, '-j', 'list', 'ruleset'], { env: { LC_ALL: 'C' }, timeoutMs: 60_000 });
        if (r.failed) throw new Error(`nft list ruleset on ${ctx.name} failed: ${(r.stderr.trim() || r.stdout.trim()).split('\n').pop()}`);
        const nft = readNft(JSON.parse(r.stdout || '{}'), rule);
        if (nft.chains.length > 0 || want === 'nftables') {
          const mine = nft.rules.filter((x) => x.comment === rule.comment);
          // A source counts as let in only when every chain that sees its packets accepts it.
          const owned = [...new Set(mine.map((x) => x.source))].filter((s) => nftInsertCommands(nft.chains, s, rule).every((c) => mine.some((m) => m.source === s && m.family === c.insert.rule.family && m.table === c.insert.rule.table && m.chain === c.insert.rule.chain)));
          const others = [...new Set(nft.rules.filter((x) => x.comment !== rule.comment).map((x) => x.source))];
          const chains = nft.chains.map((c) => `${c.family} ${c.table} ${c.name}`).join(', ');
          const active = nft.chains.length > 0;
          return { ...base, backend: 'nftables', program, active, status: active ? `nftables filters input (${chains})` : 'nftables has no input chain that drops', owned, others, nft };
        }
        notes.push('nftables has no input chain that drops');
      } else notes.push('nftables is not installed');
    }
    if (want !== 'auto') return { ...base, backend: want, active: false, status: notes.join(', ') };
    return { ...base, backend: null, active: false, status: notes.join(', ') };
  },
  plan(args, facts) {
    const problems = sourceProblems(args.from);
    if (problems.length > 0) return fail(problems.join('; '));
    const rule = portRule(args);
    const what = `${rule.port}/${rule.proto}`;
    if (!facts.backend) return noop(`no firewall is active on ${facts.host} (${facts.status}): nothing to open for ${what}`);
    if (!facts.active) return fail(`backend ${facts.backend} was asked for, but on ${facts.host} ${facts.status}`);
    const wanted = [...new Set(args.from.map((s) => canonicalSource(s) as string))].sort(byAddress);
    if (facts.backend === 'firewalld' && wanted.includes('any')) return fail(`firewalld: 'any' is not a source pgplay puts in an ipset; to open ${what} to every address, add the port to the zone (firewall-cmd --add-port)`);
    const warnings: string[] = [];
    if (facts.others.includes('any')) warnings.push(`a rule pgplay did not make lets ${what} in from anywhere on ${facts.host} (${facts.backend}): the rules for ${wanted.length > 0 ? wanted.join(', ') : 'the listed addresses'} narrow nothing until it is removed`);
    if (facts.defaultAllows) warnings.push(`ufw on ${facts.host} lets everything in by default (default incoming policy allow): ${what} is open to every address`);
    if (wanted.includes('any')) warnings.push(`${what} is opened to every address on ${facts.host}`);
    const owned = [...facts.owned].sort(byAddress);
    const add = wanted.filter((s) => !owned.includes(s) && !(s !== 'any' && facts.others.includes(s)));
    const remove = owned.filter((s) => !wanted.includes(s));
    if (add.length === 0 && remove.length === 0) {
      const covered = wanted.filter((s) => !owned.includes(s));
      const reason = wanted.length === 0 ? `no ${facts.backend} rule of pgplay's lets ${what} in` : `${what} is let in from ${wanted.join(', ')} (${facts.backend})${covered.length > 0 ? `; ${covered.join(', ')} by rules pgplay did not make` : ''}`;
      return { ...noop(reason), warnings: warnings.length > 0 ? warnings : undefined };
    }
    if (facts.backend === 'nftables') warnings.push(`nftables on ${facts.host}: the rules are in the running ruleset; save it (/etc/nftables.conf) to keep them after a reboot`);
    const summary = [`${facts.backend}: allow ${what}`, add.length > 0 ? ` from ${add.join(', ')}` : '', remove.length > 0 ? `${add.length > 0 ? ';' : ''} remove the rule${remove.length > 1 ? 's' : ''} for ${remove.join(', ')}` : ''].join('');
    const after = [...owned.filter((s) => !remove.includes(s)), ...add].sort(byAddress);
    return {
      kind: 'change',
      summary: add.length > 0 ? summary : `${facts.backend}: remove the ${what} rule${remove.length > 1 ? 's' : ''} for ${remove.join(', ')}`,
      warnings: warnings.length > 0 ? warnings : undefined,
      diffs: [{ path: `firewall (${facts.backend}) ${what}`, before: owned.map((s) => `allow from ${s}\n`).join(''), after: after.map((s) => `allow from ${s}\n`).join('') }],
      result: { backend: facts.backend, allowed: after, added: add, removed: remove },
      steps: stepsFor(facts, rule, add, remove),
    } satisfies Plan;
  },
};

function stepsFor(facts: FirewallFacts, rule: PortRule, add: string[], remove: string[]): Step[] {
  const program = facts.program as string;
  switch (facts.backend) {
    case 'ufw':
      return [
        ...add.map((s): Step => ({
          description: `ufw allow ${rule.port}/${rule.proto} from ${s}`,
          apply: (ctx) => runOk(ctx, [program, ...ufwRuleArgv('allow', s, rule).slice(1)]),
          undo: async (ctx) => {
            await runOk(ctx, [program, ...ufwRuleArgv('delete', s, rule).slice(1)]);
            return `the ufw rule for ${s} deleted again`;
          },
        })),
        ...remove.map((s): Step => ({
          description: `ufw delete the ${rule.port}/${rule.proto} rule for ${s}`,
          apply: (ctx) => runOk(ctx, [program, ...ufwRuleArgv('delete', s, rule).slice(1)]),
          undo: async (ctx) => {
            await runOk(ctx, [program, ...ufwRuleArgv('allow', s, rule).slice(1)]);
            return `the ufw rule for ${s} added back`;
          },
        })),
      ];
    case 'nftables':
      return [nftStep(program, facts.nft as NftFacts, rule, add, remove)];
    case 'firewalld':
      return [firewalldStep(program, facts.firewalld as FirewalldFacts, rule, add, remove)];
    default:
      return [];
  }
}

async function runOk(ctx: TaskContext, argv: string[], stdin?: string): Promise<void> {
  const r = await ctx.conn.run(argv, { env: { LC_ALL: 'C' }, stdin, timeoutMs: 120_000, signal: ctx.signal });
  if (r.failed) throw new Error(`${argv[0].split('/').pop()} ${argv.slice(1, 3).join(' ')} on ${ctx.name} failed: ${(r.stderr.trim() || r.stdout.trim()).split('\n').slice(-3).join(' | ')}`);
}

/** One nft transaction: every insert and delete at once, or none. */
function nftStep(program: string, nft: NftFacts, rule: PortRule, add: string[], remove: string[]): Step {
  const mine = nft.rules.filter((r) => r.comment === rule.comment);
  const present = (s: string, c: { family: string; table: string; chain: string }) => mine.some((m) => m.source === s && m.family === c.family && m.table === c.table && m.chain === c.chain);
  const inserts = add.flatMap((s) => nftInsertCommands(nft.chains, s, rule).filter((c) => !present(s, c.insert.rule)));
  const deletes = mine.filter((m) => remove.includes(m.source)).map(nftDeleteCommand);
  return {
    description: `nft: ${inserts.length} rule(s) in, ${deletes.length} out`,
    apply: (ctx) => runOk(ctx, [program, '-j', '-f', '-'], nftScript([...deletes, ...inserts])),
    async undo(ctx) {
      // Put back as it was: the rules added go (found by comment and source), the rules deleted come back.
      const r = await ctx.conn.run([program, '-j', 'list', 'ruleset'], { env: { LC_ALL: 'C' }, timeoutMs: 60_000 });
      const now = readNft(JSON.parse(r.stdout || '{}'), rule).rules.filter((x) => x.comment === rule.comment && add.includes(x.source));
      const back = remove.flatMap((s) => nftInsertCommands(nft.chains, s, rule));
      await runOk(ctx, [program, '-j', '-f', '-'], nftScript([...now.map(nftDeleteCommand), ...back]));
      return `nftables rules for ${[...add, ...remove].join(', ')} put back as they were`;
    },
  };
}

function firewalldStep(program: string, fw: FirewalldFacts, rule: PortRule, add: string[], remove: string[]): Step {
  const done: string[][] = [];
  return {
    description: `firewalld: ipset entries in zone ${fw.zone}, then a reload`,
    async apply(ctx) {
      for (const args of firewalldCommands(fw, rule, add, remove)) {
        await runOk(ctx, [program, ...args]);
        done.push(args);
      }
      await runOk(ctx, [program, '--reload']);
    },
    async undo(ctx) {
      const reverse = (args: string[]): string[] | null => {
        const flip: Array<[string, string]> = [['--add-entry=', '--remove-entry='], ['--remove-entry=', '--add-entry='], ['--add-rich-rule=', '--remove-rich-rule='], ['--new-ipset=', '--delete-ipset=']];
        for (const [from, to] of flip) {
          const i = args.findIndex((a) => a.startsWith(from));
          if (i >= 0) return from === '--new-ipset=' ? ['--permanent', `${to}${args[i].slice(from.length)}`] : args.map((a, j) => (j === i ? `${to}${a.slice(from.length)}` : a));
        }
        return null;
      };
      for (const args of [...done].reverse()) {
        const back = reverse(args);
        if (back) await runOk(ctx, [program, ...back]);
      }
      await runOk(ctx, [program, '--reload']);
      return `firewalld's ${done.length} change(s) reversed and reloaded`;
    },
  };
}
