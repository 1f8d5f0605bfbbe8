import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideRejoin, formatLsn, historyFileName, parseHistory, parseLsn, switchpointFor } from '../../../src/facts/timeline';
import { parseControlFields, parseWalStats } from '../../../src/facts/wal';

const HISTORY_3 = '1\t0/5029ED8\tno recovery target specified\n\n2\t0/5030798\tno recovery target specified\n';

describe('WAL positions and timeline histories', () => {
  it('reads and prints LSNs as PostgreSQL does', () => {
    assert.equal(parseLsn('0/5029ED8'), 0x5029ed8n);
    assert.equal(parseLsn('1A/0'), 0x1a00000000n);
    assert.equal(formatLsn(0x1a05029ed8n), '1A/5029ED8');
    assert.throws(() => parseLsn('5029ED8'), /not a WAL position/);
  });

  it('reads a history file and names it', () => {
    assert.deepEqual(parseHistory(HISTORY_3), [
      { parent: 1, switchpoint: 0x5029ed8n, reason: 'no recovery target specified' },
      { parent: 2, switchpoint: 0x5030798n, reason: 'no recovery target specified' },
    ]);
    assert.equal(historyFileName(3), '00000003.history');
    assert.equal(historyFileName(26), '0000001A.history');
    assert.throws(() => parseHistory('x 0/1 reason'), /timeline number/);
  });

  it('finds where a timeline ends in the history of a newer one', () => {
    const source = { timeline: 3, history: parseHistory(HISTORY_3) };
    assert.deepEqual(switchpointFor(1, source), { switchpoint: 0x5029ed8n, ancestor: true });
    assert.deepEqual(switchpointFor(3, source), { switchpoint: null, ancestor: true });
    assert.deepEqual(switchpointFor(4, source), { switchpoint: null, ancestor: false });
  });
});

describe('follow or rewind', () => {
  const source = { timeline: 2, history: parseHistory('1\t0/3000148\tno recovery target specified\n') };

  it('a former primary whose WAL ends at the switchpoint follows (a clean switchover)', () => {
    const d = decideRejoin({ kind: 'primary', timeline: 1, recordsAfterSwitch: 0 }, source);
    assert.equal(d.action, 'follow');
    assert.match(d.why, /its WAL ends where the primary's timeline 2 forked off timeline 1 at 0\/3000148/);
  });

  it('a former primary with WAL records after the switchpoint is rewound', () => {
    const d = decideRejoin({ kind: 'primary', timeline: 1, recordsAfterSwitch: 12 }, source);
    assert.equal(d.action, 'rewind');
    assert.match(d.why, /wrote 12 WAL record\(s\) on timeline 1 after 0\/3000148/);
  });

  it('a former primary whose WAL could not be read is refused, not guessed', () => {
    assert.equal(decideRejoin({ kind: 'primary', timeline: 1, recordsAfterSwitch: null }, source).action, 'refuse');
  });

  it('a former primary on the primary own timeline is refused (two writers of one timeline)', () => {
    assert.equal(decideRejoin({ kind: 'primary', timeline: 2, recordsAfterSwitch: 0 }, source).action, 'refuse');
  });

  it('a standby follows when it replayed up to the switchpoint, and is rewound past it', () => {
    assert.equal(decideRejoin({ kind: 'standby', timeline: 1, lsn: 0x3000148n }, source).action, 'follow');
    assert.equal(decideRejoin({ kind: 'standby', timeline: 1, lsn: 0x3000149n }, source).action, 'rewind');
    assert.equal(decideRejoin({ kind: 'standby', timeline: 2, lsn: 0x9000000n }, source).action, 'follow');
  });

  it('a host on a timeline the primary does not descend from, or a newer one, is rewound', () => {
    assert.equal(decideRejoin({ kind: 'standby', timeline: 3, lsn: 0n }, source).action, 'rewind');
    const other = { timeline: 3, history: parseHistory('1\t0/3000148\tx\n2\t0/4000000\tx\n') };
    assert.equal(decideRejoin({ kind: 'primary', timeline: 4, recordsAfterSwitch: 0 }, other).action, 'rewind');
  });
});

describe('pg_controldata and pg_waldump output', () => {
  it('reads every field of pg_controldata', () => {
    const f = parseControlFields('Database cluster state:               shut down\nLatest checkpoint location:           0/1516920\nLatest checkpoint\'s TimeLineID:       1\n');
    assert.equal(f.get('Database cluster state'), 'shut down');
    assert.equal(f.get("Latest checkpoint's TimeLineID"), '1');
  });

  it('counts records and commits after a position, and reads "nothing after" as zero', () => {
    const stdout = [
      'WAL statistics between 0/1516770 and 0/15168A8:',
      'Type                                           N      (%)          Record size      (%)             FPI size      (%)        Combined size      (%)',
      'Transaction/COMMIT                             3 ( 50.00)                  102 ( 36.56)                    0 (  0.00)                  102 ( 36.56)',
      'Heap/INSERT                                    3 ( 50.00)                  177 ( 63.44)                    0 (  0.00)                  177 ( 63.44)',
      'Total                                          6                           279 [100.00%]                   0 [0.00%]                   279 [100%]',
    ].join('\n');
    assert.deepEqual(parseWalStats(stdout, 'pg_waldump: error: error in WAL record at 0/1516880: invalid record length at 0/15168A8: wanted 24, got 0'), { records: 6, commits: 3, end: '0/15168A8' });
    assert.deepEqual(parseWalStats('', 'pg_waldump: error: could not find a valid record after 0/15168A8'), { records: 0, commits: 0, end: null });
    assert.throws(() => parseWalStats('', 'pg_waldump: error: could not find file "000000010000000000000003": No such file or directory'), /could not find file/);
  });
});
