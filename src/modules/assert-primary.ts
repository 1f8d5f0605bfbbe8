// assert_primary: the inventory's primary is the cluster's primary. After a switchover or a failover the inventory
// still names the old one; a run of site.yml must not start it as a second primary nor clone over the new one.
import { currentPrimary, describeMember, readCluster, readHandle, type MemberState } from './pg/cluster';
import { fail, noop, type ModuleDefinition } from './types';

export interface AssertPrimaryArgs {
  /** Every PostgreSQL host of the cluster. */
  cluster: string[];
}

export interface AssertPrimaryFacts {
  host: string;
  me: MemberState;
  members: MemberState[];
}

export const assertPrimaryModule: ModuleDefinition<AssertPrimaryArgs, AssertPrimaryFacts> = {
  name: 'assert_primary',
  readsServer: true,
  summary: "Refuse to go on when the inventory's primary is no longer the cluster's primary (after a switchover or a failover): the message names the host that is.",
  schema: {
    type: 'object',
    description:
      "Run on the inventory's primary, before anything starts or changes it. Reads every host of `cluster` that holds a copy of this host's cluster (the same system identifier: fresh hosts are left out). Fails, naming the real primary, when this host is a standby, or is stopped while another copy runs as a primary on a newer timeline, or runs beside one on a newer timeline. Read-only.",
    properties: {
      cluster: { type: 'array', items: { type: 'string' }, minItems: 1, description: 'Inventory names of every PostgreSQL host of the cluster.', examples: ['{{ union groups.primary groups.replicas }}'] },
    },
    required: ['cluster'],
    additionalProperties: false,
    examples: [{ cluster: ['pg1', 'pg2', 'pg3'] }],
  },
  async check(ctx, args) {
    const [me, members] = await Promise.all([readHandle(ctx), readCluster(ctx, args.cluster.filter((n) => n !== ctx.name))]);
    return { host: ctx.name, me, members };
  },
  plan(_args, facts) {
    const { me, host } = facts;
    if (me.state === 'no-cluster' || !me.systemId) return noop(`${host} holds no cluster yet`);
    if (me.state === 'unreachable') return fail(`cannot read ${host}: ${me.error}`);
    const copies = facts.members.filter((m) => m.systemId === me.systemId);
    const { primary, problem } = currentPrimary([me, ...copies]);
    if (problem) return fail(`${problem}: a split brain; stop the one that should not take writes, then run rejoin.yml`);
    const update = (p: MemberState) => `${p.name} is the primary now (timeline ${p.timeline}): update the inventory (${p.name} under primary, ${host} under replicas), then run site.yml again`;
    if (primary && primary.name !== host) return fail(`${update(primary)}; ${host} is ${describeMember(me).replace(`${host} `, '')}`);
    if (me.role === 'standby') return fail(`${host} is a standby, not the primary (${describeMember(me)}), and no other host of the cluster runs as one: update the inventory, or promote a host (failover.yml)`);
    return noop(`${host} is the primary${me.timeline ? ` (timeline ${me.timeline})` : ''}`);
  },
};
