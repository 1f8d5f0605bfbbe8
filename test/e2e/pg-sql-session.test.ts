import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LocalConnection } from '../../src/connection/local';
import { readControlData } from '../../src/facts/control-data';
import { openSqlSession, quoteIdent } from '../../src/facts/sql-session';
import { clusterSettings, createCluster, destroyCluster, stopCluster, type TestCluster } from '../helpers/pg-server';

// Slow (about 3 s): starts a real PostgreSQL 15 on 127.0.0.41.
describe('SQL session through the relay', () => {
  let cluster: TestCluster;
  const conn = new LocalConnection('pgsess');
  before(() => {
    cluster = createCluster('session', '127.0.0.41');
  });
  after(async () => {
    await conn.close();
    destroyCluster(cluster);
  });

  it('runs parameterised queries as the PostgreSQL OS user', async () => {
    const sql = await openSqlSession(conn, cluster.pg);
    try {
      const rows = await sql.query<{ who: string; n: number; echo: string }>('SELECT current_user AS who, $1::int + 1 AS n, $2::text AS echo', [41, "it's"]);
      assert.deepEqual(rows, [{ who: 'postgres', n: 42, echo: "it's" }]);
      await sql.query(`CREATE TABLE ${quoteIdent('odd "name"')} (x int)`);
      const t = await sql.query<{ c: string }>("SELECT count(*)::text AS c FROM pg_class WHERE relname = 'odd \"name\"'");
      assert.equal(t[0].c, '1');
      const big = await sql.query<{ s: string }>('SELECT repeat($1, 200000) AS s', ['x']);
      assert.equal(big[0].s.length, 200000);
      const sent = await sql.query<{ n: number }>('SELECT length($1::text) AS n', ['y'.repeat(1_000_000)]);
      assert.equal(sent[0].n, 1_000_000);
      assert.equal(sql.closed, false);
    } finally {
      await sql.close();
    }
    assert.equal((await openSqlSession(conn, cluster.pg).then((s) => s.close().then(() => s.closed))), true);
  });

  it('reports a SQL error as a rejected query and stays usable', async () => {
    const sql = await openSqlSession(conn, cluster.pg);
    await assert.rejects(sql.query('SELECT * FROM no_such_table'), /no_such_table/);
    assert.deepEqual(await sql.query('SELECT 1 AS one'), [{ one: 1 }]);
    await sql.close();
  });

  it('an interrupt cancels the statement that runs (as psql does), and the session stays usable for what follows', async () => {
    const controller = new AbortController();
    const sql = await openSqlSession(conn, cluster.pg, { signal: controller.signal });
    const watcher = await openSqlSession(conn, cluster.pg);
    try {
      const started = Date.now();
      const sleeping = sql.query('SELECT pg_sleep(60)');
      // The statement is running on the server before the interrupt.
      for (let i = 0; i < 100; i++) {
        const [row] = await watcher.query<{ n: string }>("SELECT count(*)::text AS n FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)' AND state = 'active'");
        if (row.n === '1') break;
        await new Promise((r) => setTimeout(r, 20));
      }
      controller.abort();
      await assert.rejects(sleeping, /canceling statement due to user request/);
      assert.ok(Date.now() - started < 10_000, `cancelled in ${Date.now() - started} ms`);
      assert.deepEqual(await sql.query('SELECT 2 AS two'), [{ two: 2 }]);
      // Without a statement running, an interrupt cancels nothing.
      assert.equal(sql.closed, false);
    } finally {
      await sql.close();
      await watcher.close();
    }
  });

  it('a statement sent as not interruptible runs to its end through an interrupt', async () => {
    const controller = new AbortController();
    const sql = await openSqlSession(conn, cluster.pg, { signal: controller.signal });
    try {
      const started = Date.now();
      const sleeping = sql.query<{ done: string }>("SELECT pg_sleep(0.4), 'done' AS done", [], { interruptible: false });
      setTimeout(() => controller.abort(), 100);
      assert.deepEqual(await sleeping, [{ pg_sleep: '', done: 'done' }]);
      assert.ok(Date.now() - started >= 400);
    } finally {
      await sql.close();
    }
  });

  it('a cancel sent for a statement that then ends by itself does not reach the next statement', async () => {
    // The cancel request travels on a connection of its own; here it takes 600 ms to open, so the statement it was
    // sent for (300 ms) ends first, and the next one would be running when the server takes the request.
    const slowCancels = new Proxy(conn, {
      get(target, key, receiver) {
        if (key === 'connectUnix') {
          return async (...args: Parameters<LocalConnection['connectUnix']>) => {
            await new Promise((r) => setTimeout(r, 600));
            return target.connectUnix(...args);
          };
        }
        const value = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const controller = new AbortController();
    const sql = await openSqlSession(slowCancels, cluster.pg, { signal: controller.signal });
    try {
      const first = sql.query<{ n: number }>('SELECT 1 AS n FROM pg_sleep(0.3)');
      setTimeout(() => controller.abort(), 100);
      assert.deepEqual(await first, [{ n: 1 }]);
      assert.deepEqual(await sql.query<{ n: number }>('SELECT 2 AS n FROM pg_sleep(1)'), [{ n: 2 }]);
    } finally {
      await sql.close();
    }
  });

  it('reads pg_controldata of a cluster and null for an empty directory', async () => {
    const data = await readControlData(conn, cluster.pg);
    assert.ok(data);
    assert.match(data.systemIdentifier, /^\d{10,}$/);
    assert.equal(data.state, 'in production');
    assert.equal(await readControlData(conn, cluster.pg, '/tmp/pgplay-pgtest-session/nothing-here'), null);
  });

  it('says plainly when the server is down', async () => {
    stopCluster(cluster);
    await assert.rejects(openSqlSession(conn, cluster.pg), (err: Error) => {
      assert.match(err.message, /^PostgreSQL on pgsess is not accepting connections on socket \/tmp\/pgplay-pgtest-session\/sock\/\.s\.PGSQL\.5441/);
      return true;
    });
    const data = await readControlData(conn, cluster.pg);
    assert.equal(data?.state, 'shut down');
  });

  it('says when the OS user to connect as does not exist', async () => {
    await assert.rejects(openSqlSession(conn, { ...cluster.pg, osUser: 'pgplay-no-such-user' }), /^Error: cannot reach PostgreSQL's socket on pgsess as pgplay-no-such-user: there is no such user/);
  });

  it('names the socket when the directory does not exist', async () => {
    const other = clusterSettings('nowhere', '127.0.0.49');
    await assert.rejects(openSqlSession(conn, other.pg), /not accepting connections on socket \/tmp\/pgplay-pgtest-nowhere\/sock/);
  });
});
