// Load for day-2 runs (switchover, failover) on a lab: a writer that records every id whose COMMIT returned and
// follows the primary across hosts, a probe that watches that no two hosts accept writes at once, a verifier.
// Used by test/e2e/day2*.test.ts and bench/day2.
import { Client } from 'pg';

export interface LoadHost {
  name: string;
  address: string;
  port: number;
}

export const LOAD_USER = 'day2_writer';
export const LOAD_TABLE = 'day2_acked';

/** SQL, run on the primary as a superuser, that makes the writer's role and table. */
export function loadSetupSql(password: string): string {
  return [
    `DROP TABLE IF EXISTS ${LOAD_TABLE}`,
    `DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${LOAD_USER}') THEN CREATE ROLE ${LOAD_USER} LOGIN; END IF; END $$`,
    `ALTER ROLE ${LOAD_USER} PASSWORD '${password.replace(/'/g, "''")}'`,
    `CREATE TABLE ${LOAD_TABLE} (id bigint PRIMARY KEY, host text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())`,
    `GRANT SELECT, INSERT ON ${LOAD_TABLE} TO ${LOAD_USER}`,
  ].join('; ');
}

/** The pg_hba.conf line that lets the writer in from the control machine's address. */
export function loadHbaLine(controlAddress: string): string {
  return `host all ${LOAD_USER} ${controlAddress}/32 scram-sha-256`;
}

function client(h: LoadHost, password: string): Client {
  return new Client({ host: h.address, port: h.port, user: LOAD_USER, password, database: 'postgres', connectionTimeoutMillis: 1000, application_name: 'day2-load' });
}

export interface WriterReport {
  acked: number[];
  /** Commit times (ms since the epoch), one per acknowledged id. */
  ackedAt: number[];
  /** Each host that took writes, in order, with the first id it acknowledged. */
  hosts: Array<{ host: string; firstId: number }>;
  errors: number;
}

/** Inserts one row per transaction, as fast as the primary answers, until stopped; moves to whichever host takes writes. */
export class Writer {
  #stop = false;
  #done: Promise<void> | null = null;
  readonly report: WriterReport = { acked: [], ackedAt: [], hosts: [], errors: 0 };

  constructor(
    private readonly hosts: LoadHost[],
    private readonly password: string,
    /** Ids go up from here: each writer of a run starts past the ones before it. */
    private readonly firstId = Date.now() * 100,
  ) {}

  start(): void {
    this.#done = this.#loop();
  }

  async stop(): Promise<WriterReport> {
    this.#stop = true;
    await this.#done;
    return this.report;
  }

  async #loop(): Promise<void> {
    let next = this.firstId;
    let current: { c: Client; host: string } | null = null;
    while (!this.#stop) {
      if (!current) {
        current = await this.#findPrimary();
        if (!current) {
          await sleep(5);
          continue;
        }
      }
      const id = next++;
      try {
        await current.c.query(`INSERT INTO ${LOAD_TABLE} (id, host) VALUES ($1, $2)`, [id, current.host]);
        const last = this.report.hosts[this.report.hosts.length - 1];
        if (!last || last.host !== current.host) this.report.hosts.push({ host: current.host, firstId: id });
        this.report.acked.push(id);
        this.report.ackedAt.push(Date.now());
      } catch {
        this.report.errors++;
        await current.c.end().catch(() => undefined);
        current = null;
      }
    }
    await current?.c.end().catch(() => undefined);
  }

  /** The first host that accepts a session and is not in recovery. */
  async #findPrimary(): Promise<{ c: Client; host: string } | null> {
    for (const h of this.hosts) {
      if (this.#stop) return null;
      const c = client(h, this.password);
      c.on('error', () => undefined);
      try {
        await c.connect();
        const { rows } = await c.query<{ rec: boolean }>('SELECT pg_is_in_recovery() AS rec');
        if (!rows[0].rec) return { c, host: h.name };
      } catch {
        /* down, or refusing */
      }
      await c.end().catch(() => undefined);
    }
    return null;
  }
}

/** The longest time between two acknowledged commits in [from, to] (ms since the epoch): the write-unavailability window. */
export function writeGap(report: WriterReport, from = 0, to = Infinity): { ms: number; afterId: number | null } {
  let best = { ms: 0, afterId: null as number | null };
  for (let i = 1; i < report.ackedAt.length; i++) {
    if (report.ackedAt[i] < from || report.ackedAt[i - 1] > to) continue;
    const gap = report.ackedAt[i] - report.ackedAt[i - 1];
    if (gap > best.ms) best = { ms: gap, afterId: report.acked[i - 1] };
  }
  return best;
}

export interface ProbeReport {
  rounds: number;
  /** Rounds in which two or more hosts said they are not in recovery, with who. */
  twoPrimaries: Array<{ at: number; hosts: string[] }>;
}

/** Asks every host, round after round, whether it is in recovery; two answering "no" in one round is a split brain. */
export class PrimaryProbe {
  #stop = false;
  #done: Promise<void> | null = null;
  readonly report: ProbeReport = { rounds: 0, twoPrimaries: [] };

  constructor(
    private readonly hosts: LoadHost[],
    private readonly password: string,
    private readonly intervalMs = 10,
  ) {}

  start(): void {
    this.#done = this.#loop();
  }

  async stop(): Promise<ProbeReport> {
    this.#stop = true;
    await this.#done;
    return this.report;
  }

  async #loop(): Promise<void> {
    const clients = new Map<string, Client | null>();
    const ask = async (h: LoadHost): Promise<boolean> => {
      let c = clients.get(h.name) ?? null;
      try {
        if (!c) {
          c = client(h, this.password);
          c.on('error', () => undefined);
          clients.set(h.name, c);
          await c.connect();
        }
        const { rows } = await c.query<{ rec: boolean }>('SELECT pg_is_in_recovery() AS rec');
        return !rows[0].rec;
      } catch {
        await c?.end().catch(() => undefined);
        clients.set(h.name, null);
        return false;
      }
    };
    while (!this.#stop) {
      const answers = await Promise.all(this.hosts.map(ask));
      this.report.rounds++;
      const primaries = this.hosts.filter((_, i) => answers[i]).map((h) => h.name);
      if (primaries.length > 1) this.report.twoPrimaries.push({ at: Date.now(), hosts: primaries });
      await sleep(this.intervalMs);
    }
    await Promise.all([...clients.values()].map((c) => c?.end().catch(() => undefined)));
  }
}

/** Acknowledged ids missing on each host, waiting up to timeoutMs for standbys to catch up. */
export async function missingOnHosts(hosts: LoadHost[], password: string, acked: number[], timeoutMs = 15_000): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  await Promise.all(
    hosts.map(async (h) => {
      const deadline = Date.now() + timeoutMs;
      let missing: number[] = acked;
      for (;;) {
        const c = client(h, password);
        c.on('error', () => undefined);
        try {
          await c.connect();
          const { rows } = await c.query<{ id: string }>(`SELECT a.id::text AS id FROM unnest($1::bigint[]) AS a(id) WHERE NOT EXISTS (SELECT 1 FROM ${LOAD_TABLE} t WHERE t.id = a.id)`, [acked]);
          missing = rows.map((r) => Number(r.id));
        } catch {
          missing = acked;
        } finally {
          await c.end().catch(() => undefined);
        }
        if (missing.length === 0 || Date.now() > deadline) break;
        await sleep(100);
      }
      out[h.name] = missing;
    }),
  );
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
