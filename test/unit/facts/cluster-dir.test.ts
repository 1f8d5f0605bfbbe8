import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readClusterDir } from '../../../src/facts/cluster-dir';
import type { Connection } from '../../../src/connection/types';

/** A host whose only operation is listing these directories. */
function listing(tree: Record<string, string[]>): Connection {
  return { list: async (path: string) => tree[path] ?? null } as unknown as Connection;
}

const D = '/var/lib/postgresql/14/main';

describe('a data directory read from its files', () => {
  it('default databases are those with OIDs below 16384, whatever their number (13xxx on PostgreSQL 14 and older)', async () => {
    // initdb of PostgreSQL 14: template1 is 1, template0 and postgres got OIDs from the bootstrap counter.
    const tree = {
      [D]: ['PG_VERSION', 'base', 'global', 'pg_tblspc', 'pg_replslot'],
      [`${D}/base`]: ['1', '13756', '13757', 'pgsql_tmp'],
      [`${D}/base/1`]: ['1259', '1259_fsm', 'PG_VERSION', 'pg_filenode.map'],
      [`${D}/base/13756`]: ['1259', '2619', '2619_vm'],
      [`${D}/base/13757`]: ['1259', '2619'],
      [`${D}/pg_tblspc`]: [],
      [`${D}/pg_replslot`]: [],
    };
    const fresh = await readClusterDir(listing(tree), D);
    assert.deepEqual([fresh.userDatabaseOids, fresh.userRelationFiles], [[], 0]);

    // A table in postgres (13757) and one in template1, each with its forks; and a database users made.
    tree[`${D}/base/13757`] = ['1259', '16390', '16390_fsm', '16390.1'];
    tree[`${D}/base/1`] = [...tree[`${D}/base/1`], '16400'];
    tree[`${D}/base`] = [...tree[`${D}/base`], '16384'];
    const used = await readClusterDir(listing(tree), D);
    assert.deepEqual([used.userDatabaseOids, used.userRelationFiles], [['16384'], 4]);
  });

  it('a directory it cannot list is an error, never read as empty', async () => {
    const failing = { list: async () => Promise.reject(new Error('cannot list /d/base: Permission denied')) } as unknown as Connection;
    await assert.rejects(readClusterDir(failing, '/d'), /Permission denied/);
  });
});
