import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { namesFor, packageModule, type PackageFacts } from '../../../src/modules/package';
import type { Plan } from '../../../src/modules/types';

const apt = (over: Partial<PackageFacts>): PackageFacts => ({ manager: 'apt', os: 'debian 12', names: ['sl'], installed: { sl: null }, ...over });
const sim = (install: Array<{ name: string; version: string; from?: string }>, problems: string[] = []) => ({ install, remove: [], problems });
const change = (plan: Plan) => {
  assert.equal(plan.kind, 'change', JSON.stringify(plan));
  return plan as Extract<Plan, { kind: 'change' }>;
};

describe('package plan', () => {
  it('noop when every package is installed (present), or none is (absent)', () => {
    assert.deepEqual(packageModule.plan({ name: 'sl' }, apt({ installed: { sl: '5.02-1+b1' } })), { kind: 'noop', reason: 'installed: sl 5.02-1+b1', result: undefined });
    assert.equal(packageModule.plan({ name: 'sl', state: 'absent' }, apt({})).kind, 'noop');
  });

  it('installs what is missing, naming the dependencies apt-get -s found; fresh lists are not refreshed', () => {
    const plan = change(packageModule.plan({ name: ['sl', 'cowsay'] }, apt({ names: ['sl', 'cowsay'], installed: { sl: null, cowsay: null }, listsAge: 60, simulation: sim([{ name: 'libtext-charwidth-perl', version: '0.04-11' }, { name: 'cowsay', version: '3.03' }, { name: 'sl', version: '5.02' }]) })));
    assert.equal(plan.summary, 'install sl, cowsay (with 1 more: libtext-charwidth-perl)');
    assert.deepEqual(plan.steps.map((s) => s.description), ['apt-get install sl cowsay']);
    assert.deepEqual(plan.result?.packages, ['libtext-charwidth-perl 0.04-11', 'cowsay 3.03', 'sl 5.02']);
  });

  it('refreshes the package lists first only when they are older than cache_valid_time', () => {
    const old = change(packageModule.plan({ name: 'sl', cache_valid_time: 600 }, apt({ listsAge: 7200, simulation: sim([{ name: 'sl', version: '5.02' }]) })));
    assert.deepEqual(old.steps.map((s) => s.description), ['apt-get update', 'apt-get install sl']);
    assert.match(old.summary, /the package lists are 2 h old: apt-get update first/);
    const never = change(packageModule.plan({ name: 'sl' }, apt({ listsAge: null, simulation: sim([]) })));
    assert.match(never.summary, /never refreshed/);
  });

  it('fails before anything runs when fresh lists do not know a package; stale lists are refreshed and warned about', () => {
    const problems = ['nosuch: not in the package lists (apt-get: Unable to locate package nosuch)'];
    assert.deepEqual(packageModule.plan({ name: 'nosuch' }, apt({ names: ['nosuch'], installed: { nosuch: null }, listsAge: 10, simulation: sim([], problems) })), {
      kind: 'fail',
      message: 'apt-get cannot install nosuch: not in the package lists (apt-get: Unable to locate package nosuch)',
      result: undefined,
    });
    const stale = change(packageModule.plan({ name: 'nosuch' }, apt({ names: ['nosuch'], installed: { nosuch: null }, listsAge: 999_999, simulation: sim([], problems) })));
    assert.deepEqual(stale.warnings, [`${problems[0]}; the lists are refreshed first`]);
  });

  it('latest: upgrades what apt-get -s would upgrade; nothing when the lists are fresh and it is the newest', () => {
    const up = change(packageModule.plan({ name: 'sl', state: 'latest' }, apt({ installed: { sl: '5.01' }, listsAge: 10, simulation: sim([{ name: 'sl', version: '5.02', from: '5.01' }]) })));
    assert.equal(up.summary, 'upgrade sl');
    assert.equal(packageModule.plan({ name: 'sl', state: 'latest' }, apt({ installed: { sl: '5.02' }, listsAge: 10, simulation: sim([]) })).kind, 'noop');
  });

  it('absent: removes, warning about what goes with it', () => {
    const plan = change(packageModule.plan({ name: 'postgresql-common', state: 'absent' }, apt({ names: ['postgresql-common'], installed: { 'postgresql-common': '248' }, simulation: { install: [], problems: [], remove: [{ name: 'postgresql-15', version: '15.18' }, { name: 'postgresql-common', version: '248' }] } })));
    assert.equal(plan.summary, 'remove postgresql-common');
    assert.deepEqual(plan.warnings, ['removing postgresql-common also removes postgresql-15 (they depend on it)']);
  });

  it('dnf: installs the missing, upgrades the upgradable', () => {
    const facts: PackageFacts = { manager: 'dnf', os: 'rocky 9.4', names: ['a', 'b'], installed: { a: null, b: '1-1.x86_64' }, upgradable: ['b'] };
    const plan = change(packageModule.plan({ name: ['a', 'b'], state: 'latest' }, facts));
    assert.deepEqual(plan.steps.map((s) => s.description), ['dnf install a', 'dnf upgrade b']);
    assert.equal(packageModule.plan({ name: ['a', 'b'] }, { ...facts, installed: { a: '1', b: '1' } }).kind, 'noop');
  });

  it('fails on a host with no known manager, and on names for another manager only', () => {
    assert.match((packageModule.plan({ name: 'sl' }, { manager: null, os: 'alpine 3.20', names: [], installed: {} }) as { message: string }).message, /no package manager pgplay knows on alpine 3.20/);
    assert.match((packageModule.plan({ name: { dnf: ['x'] } }, apt({ names: [] })) as { message: string }).message, /name gives no package names for apt/);
    assert.deepEqual(namesFor({ apt: 'postgresql-15', dnf: ['postgresql15-server'] }, 'dnf'), ['postgresql15-server']);
  });

  it('refuses a name that could be read as an option', () => {
    assert.deepEqual(packageModule.validate?.({ name: ['-o', 'sl', '{{ x }}'] }), [{ arg: 'name', message: "'-o' is not a package name (letters, digits, + . _ - and an optional :arch)" }]);
  });
});
