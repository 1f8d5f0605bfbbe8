import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkLabId, networkLayout, overlaps, parseCidr } from '../../lab/netns';
import { hostLayouts, netnsLabLayout, parseLayout } from '../../lab/netns-lab';
import { netnsInventory } from '../../lab/inventory';
import { parse } from 'yaml';

describe('network-namespace lab layout', () => {
  it('names everything with the lab prefix and numbers hosts from the 11th address', () => {
    const net = networkLayout('t1', ['pg1', 'pg2'], '198.51.100.0/24');
    assert.deepEqual(net, {
      id: 't1',
      prefix: 'pgplay-t1',
      subnet: '198.51.100.0/24',
      switchNs: 'pgplay-t1-sw',
      control: { link: 'pgplay-t1', address: '198.51.100.1' },
      hosts: [
        { name: 'pg1', netns: 'pgplay-t1-pg1', address: '198.51.100.11' },
        { name: 'pg2', netns: 'pgplay-t1-pg2', address: '198.51.100.12' },
      ],
    });
  });

  it('keeps to the documentation ranges, and to the room a subnet has', () => {
    assert.throws(() => networkLayout('t1', ['pg1'], '10.0.0.0/24'), /must lie in a documentation range/);
    assert.throws(() => networkLayout('t1', ['pg1'], '192.0.0.0/16'), /must lie in a documentation range/);
    assert.equal(networkLayout('t1', ['pg1'], '203.0.113.64/26').hosts[0].address, '203.0.113.75');
    assert.throws(() => networkLayout('t1', ['a', 'b', 'c', 'd', 'e'], '192.0.2.0/28'), /no room for 5 hosts/);
  });

  it('takes a lab id that fits a link name', () => {
    assert.equal(checkLabId('e2e12'), 'e2e12');
    assert.throws(() => checkLabId('too-long-id'), /1 to 8 lower-case letters or digits/);
    assert.throws(() => checkLabId('Lab'), /1 to 8/);
  });

  it('sees which networks overlap', () => {
    assert.equal(overlaps('192.0.2.2/24', '192.0.2.0/24'), true);
    assert.equal(overlaps('192.0.2.77', '192.0.2.64/26'), true);
    assert.equal(overlaps('192.0.2.0/24', '198.51.100.0/24'), false);
    assert.equal(overlaps('0.0.0.0/0', '203.0.113.0/24'), true);
    assert.deepEqual(parseCidr('192.0.2.9/24'), { network: 0xc0000200, length: 24 });
    assert.throws(() => parseCidr('192.0.2.300/24'), /not an IPv4 address/);
  });

  it('lays hosts out as Debian, RHEL, mixed (a Debian primary, then Debian and RHEL replicas in turn) or one per host', () => {
    assert.deepEqual(hostLayouts(4, 'mixed'), ['debian', 'debian', 'rhel', 'debian']);
    assert.deepEqual(hostLayouts(2, 'rhel'), ['rhel', 'rhel']);
    assert.deepEqual(hostLayouts(2, parseLayout('rhel,debian')), ['rhel', 'debian']);
    assert.throws(() => hostLayouts(3, ['rhel']), /1 layouts for 3 hosts/);
    assert.throws(() => hostLayouts(1, 'suse' as never), /debian, rhel or mixed/);
  });

  it('marks the RHEL hosts left with the binaries only', () => {
    const lab = netnsLabLayout(3, { id: 't1', root: '/tmp/lab-t1', layout: ['rhel', 'rhel', 'debian'], subnet: '198.51.100.0/24', withoutCluster: ['pg1'] });
    assert.deepEqual(lab.hosts.map((h) => h.binariesOnly ?? false), [true, false, false]);
  });

  it('writes an inventory with each layout\'s paths, pg_ctlcluster for Debian hosts and no pg_client_address', () => {
    const lab = netnsLabLayout(2, { id: 't1', root: '/tmp/lab-t1', layout: ['debian', 'rhel'], subnet: '198.51.100.0/24' });
    const doc = parse(netnsInventory(lab.hosts, { key: lab.key, knownHosts: lab.knownHosts })) as { all: { vars: Record<string, unknown>; children: Record<string, { hosts: Record<string, Record<string, unknown>> }> } };
    assert.equal(doc.all.vars.pg_listen_addresses, '*');
    assert.deepEqual(doc.all.children.primary.hosts.pg1, {
      ansible_host: '198.51.100.11',
      pg_address: '198.51.100.11',
      lab_layout: 'debian',
      pg_service: 'pg_ctlcluster',
      pg_cluster: 'pgplay_t1_pg1',
      pg_data_dir: '/var/lib/postgresql/15/pgplay_t1_pg1',
      pg_config_dir: '/etc/postgresql/15/pgplay_t1_pg1',
      pg_socket_dir: '/var/run/postgresql/pgplay_t1_pg1',
      pg_log_file: '/var/log/postgresql/postgresql-15-pgplay_t1_pg1.log',
      pgplay_lock_file: '/tmp/lab-t1/pg1/pgplay.lock',
    });
    assert.deepEqual(doc.all.children.replicas.hosts.pg2, {
      ansible_host: '198.51.100.12',
      pg_address: '198.51.100.12',
      lab_layout: 'rhel',
      pg_service: 'pg_ctl',
      pg_data_dir: '/tmp/lab-t1/pg2/data',
      pg_config_dir: '/tmp/lab-t1/pg2/data',
      pg_socket_dir: '/tmp/lab-t1/pg2/run',
      pg_log_file: '/tmp/lab-t1/pg2/server.log',
      pgplay_lock_file: '/tmp/lab-t1/pg2/pgplay.lock',
    });
  });
});
