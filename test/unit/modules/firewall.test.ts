import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { firewallModule, type FirewallFacts } from '../../../src/modules/firewall';
import { canonicalSource } from '../../../src/modules/firewalls/common';
import { firewalldCommands, ipsetName, parseIpsetEntries, parseZoneOthers, richRule } from '../../../src/modules/firewalls/firewalld';
import { filteringInputChains, nftInsertCommands, readNft } from '../../../src/modules/firewalls/nftables';
import { parseUfwRules, parseUfwStatus, ufwIncomingPolicy, ufwRuleArgv, ufwRunning, ufwSources } from '../../../src/modules/firewalls/ufw';
import type { Plan } from '../../../src/modules/types';

const rule = { port: 5432, proto: 'tcp' as const, comment: 'pgplay replication' };
const ruleset = JSON.parse(readFileSync(join(__dirname, '../../../../test/fixtures/facts/nft-ruleset.json'), 'utf8'));
const change = (plan: Plan) => {
  assert.equal(plan.kind, 'change', JSON.stringify(plan));
  return plan as Extract<Plan, { kind: 'change' }>;
};

describe('firewall sources', () => {
  it('are canonical: an address, a network with its host bits cleared, or any', () => {
    assert.equal(canonicalSource('198.51.100.12/32'), '198.51.100.12');
    assert.equal(canonicalSource('198.51.100.77/24'), '198.51.100.0/24');
    assert.equal(canonicalSource('2001:DB8:0:0::1'), '2001:db8::1');
    assert.equal(canonicalSource('0.0.0.0/0'), 'any');
    assert.equal(canonicalSource('Anywhere'), 'any');
    for (const bad of ['pg2', '10.0.0.1/33', '10.0.0.1/8/1', '']) assert.equal(canonicalSource(bad), null, bad);
  });
});

describe('ufw', () => {
  const tuples = parseUfwRules(
    [
      '### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in',
      '### tuple ### allow tcp 5432 0.0.0.0/0 any 198.51.100.12 in comment=7067706c6179207265706c69636174696f6e',
      '### tuple ### allow tcp 5432 0.0.0.0/0 any 0.0.0.0/0 in',
      '### tuple ### allow any 5432 0.0.0.0/0 any 10.0.0.0/8 in',
      '### tuple ### deny tcp 5432 0.0.0.0/0 any 203.0.113.9 in',
      '### tuple ### allow tcp 5000:6000 0.0.0.0/0 any 192.0.2.50 in',
      '### tuple ### allow any 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in',
      '-A ufw-user-input -p tcp --dport 22 -j ACCEPT',
    ].join('\n'),
  );

  it('reads its tuples (comments decoded) and its status', () => {
    assert.equal(tuples.length, 7);
    assert.equal(tuples[1].comment, 'pgplay replication');
    assert.equal(tuples[6].dport, '22');
    assert.deepEqual(parseUfwStatus('Status: active\nLogging: on (low)\nDefault: deny (incoming), allow (outgoing), disabled (routed)\n'), { active: true, incoming: 'deny' });
    assert.deepEqual(parseUfwStatus('Status: inactive\n'), { active: false, incoming: null });
  });

  it("tells the task's own rules from the others that let the port in (deny rules and other ports are neither)", () => {
    assert.deepEqual(ufwSources(tuples, rule), { owned: ['198.51.100.12'], others: ['any', '10.0.0.0/8', '192.0.2.50'] });
    assert.deepEqual(ufwSources(tuples, { ...rule, port: 5500 }).others, ['192.0.2.50']);
  });

  it("says whether ufw runs as `ufw status` does, from iptables' answers for its chains, and its default incoming policy from its files", () => {
    assert.equal(ufwRunning([0, 0, 0]), true);
    assert.equal(ufwRunning([1, 1, 1]), false, 'ufw disabled: no chains');
    assert.equal(ufwRunning([0, 1, 0]), false, 'the first missing chain decides');
    assert.equal(ufwRunning([4, 0, 0]), null, 'iptables could not answer: ask ufw');
    assert.equal(ufwRunning([0, null, 0]), null, 'iptables did not run');
    assert.equal(ufwIncomingPolicy(['IPV6=yes\nDEFAULT_INPUT_POLICY="DROP"\nDEFAULT_OUTPUT_POLICY="ACCEPT"\n', 'ENABLED=yes\n']), 'deny');
    assert.equal(ufwIncomingPolicy(["DEFAULT_INPUT_POLICY='ACCEPT'\n"]), 'allow');
    assert.equal(ufwIncomingPolicy(['DEFAULT_INPUT_POLICY="DROP"\n', 'default_input_policy=reject\n']), 'reject', 'the later file wins');
    assert.equal(ufwIncomingPolicy(['# DEFAULT_INPUT_POLICY="ACCEPT"\nIPV6=yes\n']), null);
  });

  it('adds and deletes one rule with ufw itself', () => {
    assert.deepEqual(ufwRuleArgv('allow', '198.51.100.13', rule), ['ufw', 'allow', 'proto', 'tcp', 'from', '198.51.100.13', 'to', 'any', 'port', '5432', 'comment', 'pgplay replication']);
    assert.deepEqual(ufwRuleArgv('delete', '198.51.100.13', rule), ['ufw', 'delete', 'allow', 'proto', 'tcp', 'from', '198.51.100.13', 'to', 'any', 'port', '5432']);
  });
});

describe('nftables', () => {
  it('filters input where a base chain drops; a chain that accepts everything is not a firewall', () => {
    assert.deepEqual(filteringInputChains(ruleset), [{ family: 'inet', table: 'filter', name: 'input', policy: 'drop' }]);
    assert.deepEqual(filteringInputChains({ nftables: ruleset.nftables.filter((i: any) => !(i.chain?.table === 'filter' && i.chain?.family === 'inet')) }), []);
  });

  it('reads which sources each accept rule lets in on the port; a rule with other conditions counts for none', () => {
    const { rules } = readNft(ruleset, rule);
    assert.deepEqual(
      rules.map((r) => `${r.handle} ${r.source} ${r.comment}`),
      ['5 198.51.100.12 pgplay replication', '6 2001:db8::12 pgplay replication', '7 198.51.100.13 another task', '8 any ', '10 10.0.0.0/8 '],
    );
    assert.deepEqual(readNft(ruleset, { ...rule, port: 6050 }).rules.map((r) => r.handle), [12]);
  });

  it('inserts a rule per filtering chain that sees the source, with the comment', () => {
    const chains = [{ family: 'inet', table: 'filter', name: 'input', policy: 'drop' }, { family: 'ip6', table: 'f6', name: 'in', policy: 'drop' }];
    assert.deepEqual(nftInsertCommands(chains, '198.51.100.0/24', rule), [
      {
        insert: {
          rule: {
            family: 'inet',
            table: 'filter',
            chain: 'input',
            comment: 'pgplay replication',
            expr: [
              { match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: { prefix: { addr: '198.51.100.0', len: 24 } } } },
              { match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: 5432 } },
              { accept: null },
            ],
          },
        },
      },
    ]);
    assert.equal(nftInsertCommands(chains, '2001:db8::1', rule).length, 2);
  });
});

describe('firewalld', () => {
  it("keeps a task's sources in an ipset named from its comment, let in by one rich rule", () => {
    assert.equal(ipsetName(rule, 4), 'pgplay-replication-5432-tcp');
    assert.equal(ipsetName({ ...rule, comment: 'A very long comment!' }, 6), 'a-very-long-comment-5432-tcp6');
    assert.equal(richRule('pgplay-replication-5432-tcp', 4, rule), 'rule family="ipv4" source ipset="pgplay-replication-5432-tcp" port port="5432" protocol="tcp" accept');
    assert.deepEqual(parseIpsetEntries('pgplay-replication-5432-tcp\n  type: hash:net\n  options: \n  entries: 198.51.100.12 198.51.100.0/24\n'), ['198.51.100.12', '198.51.100.0/24']);
  });

  it('sees the port or the postgresql service open to all, and rich rules with a source address', () => {
    const others = parseZoneOthers({ ports: '5432/tcp 80/tcp', services: 'ssh postgresql', richRules: 'rule family="ipv4" source address="10.1.0.0/16" port port="5432" protocol="tcp" accept\n' }, rule);
    assert.deepEqual(others, ['any', '10.1.0.0/16']);
  });

  it('creates the ipset and the rich rule only when missing; entries come and go', () => {
    const facts = { zone: 'public', others: [], ipsets: [{ name: 'pgplay-replication-5432-tcp', family: 4 as const, exists: false, entries: [], ruleExists: false }, { name: 'pgplay-replication-5432-tcp6', family: 6 as const, exists: true, entries: ['2001:db8::9'], ruleExists: true }] };
    assert.deepEqual(firewalldCommands(facts, rule, ['198.51.100.12'], ['2001:db8::9']), [
      ['--permanent', '--new-ipset=pgplay-replication-5432-tcp', '--type=hash:net'],
      ['--permanent', '--ipset=pgplay-replication-5432-tcp', '--add-entry=198.51.100.12'],
      ['--permanent', '--zone=public', `--add-rich-rule=${richRule('pgplay-replication-5432-tcp', 4, rule)}`],
      ['--permanent', '--ipset=pgplay-replication-5432-tcp6', '--remove-entry=2001:db8::9'],
    ]);
  });
});

describe('firewall plan', () => {
  const facts = (over: Partial<FirewallFacts>): FirewallFacts => ({ host: 'pg1', backend: 'ufw', active: true, status: 'ufw is active', program: '/usr/sbin/ufw', owned: [], others: [], ...over });
  const args = { port: 5432, from: ['198.51.100.12', '198.51.100.13/32'], comment: 'pgplay replication' };

  it('does nothing when no firewall is active, and says so', () => {
    assert.deepEqual(firewallModule.plan(args, facts({ backend: null, status: 'ufw is inactive, firewalld is not installed, nftables has no input chain that drops' })), {
      kind: 'noop',
      reason: 'no firewall is active on pg1 (ufw is inactive, firewalld is not installed, nftables has no input chain that drops): nothing to open for 5432/tcp',
      result: undefined,
    });
  });

  it('fails when the backend asked for is not active (or not installed)', () => {
    assert.deepEqual(firewallModule.plan({ ...args, backend: 'ufw' }, facts({ active: false, status: 'ufw is inactive' })), { kind: 'fail', message: 'backend ufw was asked for, but on pg1 ufw is inactive', result: undefined });
    assert.match((firewallModule.plan({ ...args, backend: 'firewalld' }, facts({ backend: 'firewalld', active: false, status: 'firewalld is not installed' })) as { message: string }).message, /firewalld is not installed/);
  });

  it('adds the missing sources and removes the ones that left the list', () => {
    const plan = change(firewallModule.plan(args, facts({ owned: ['198.51.100.12', '198.51.100.14'] })));
    assert.equal(plan.summary, 'ufw: allow 5432/tcp from 198.51.100.13; remove the rule for 198.51.100.14');
    assert.deepEqual(plan.steps.map((s) => s.description), ['ufw allow 5432/tcp from 198.51.100.13', 'ufw delete the 5432/tcp rule for 198.51.100.14']);
    assert.deepEqual(plan.diffs?.[0], { path: 'firewall (ufw) 5432/tcp', before: 'allow from 198.51.100.12\nallow from 198.51.100.14\n', after: 'allow from 198.51.100.12\nallow from 198.51.100.13\n' });
  });

  it('is a noop when the rules are there; a source a rule of the user lets in gets none; a rule from anywhere is reported', () => {
    const plan = firewallModule.plan(args, facts({ owned: ['198.51.100.12'], others: ['198.51.100.13', 'any'] }));
    assert.equal(plan.kind, 'noop');
    assert.match((plan as { reason: string }).reason, /5432\/tcp is let in from 198.51.100.12, 198.51.100.13 \(ufw\); 198.51.100.13 by rules pgplay did not make/);
    assert.match(plan.warnings?.[0] ?? '', /a rule pgplay did not make lets 5432\/tcp in from anywhere on pg1 \(ufw\)/);
  });

  it('warns when it opens the port to every address; refuses what is not an address', () => {
    assert.deepEqual(change(firewallModule.plan({ port: 5432, from: ['any'] }, facts({}))).warnings, ['5432/tcp is opened to every address on pg1']);
    assert.match((firewallModule.plan({ port: 5432, from: ['pg2'] }, facts({})) as { message: string }).message, /'pg2' is not an address or a network/);
    assert.match((firewallModule.plan({ port: 5432, from: ['any'] }, facts({ backend: 'firewalld' })) as { message: string }).message, /firewalld: 'any' is not a source/);
  });

  it('nftables: one transaction, and a warning that the running ruleset is not saved', () => {
    const nft = readNft(ruleset, rule);
    const plan = change(firewallModule.plan({ ...args, from: ['198.51.100.13'] }, facts({ backend: 'nftables', program: '/usr/sbin/nft', owned: ['198.51.100.12', '2001:db8::12'], others: ['198.51.100.13', 'any', '10.0.0.0/8'], nft })));
    assert.equal(plan.summary, 'nftables: remove the 5432/tcp rules for 198.51.100.12, 2001:db8::12');
    assert.deepEqual(plan.steps.map((s) => s.description), ['nft: 0 rule(s) in, 2 out']);
    assert.match(plan.warnings?.join('\n') ?? '', /save it \(\/etc\/nftables.conf\)/);
  });
});
