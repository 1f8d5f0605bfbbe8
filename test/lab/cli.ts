// `node dist/test/lab/cli.js up N | down | status [--root DIR]`: the lab for people and for the benchmark.
import { DEFAULT_ROOT, labDown, labUp, readLab } from './lab';
import { isAlive, readPidFile } from './processes';

async function main(argv: string[]): Promise<number> {
  const rootAt = argv.indexOf('--root');
  const root = rootAt >= 0 ? argv[rootAt + 1] : DEFAULT_ROOT;
  const [what, count] = argv.filter((_, i) => rootAt < 0 || (i !== rootAt && i !== rootAt + 1));
  if (what === 'up') {
    const started = Date.now();
    const lab = await labUp(Number(count ?? 2), { root });
    console.log(`lab up: ${lab.hosts.length} hosts in ${((Date.now() - started) / 1000).toFixed(1)} s, inventory ${lab.inventory}`);
    return 0;
  }
  if (what === 'down') {
    await labDown(root);
    console.log(`lab down: ${root} removed`);
    return 0;
  }
  if (what === 'status') {
    const lab = readLab(root);
    if (!lab) {
      console.log(`no lab at ${root}`);
      return 1;
    }
    for (const h of lab.hosts) {
      const sshd = readPidFile(h.sshd.pidFile);
      const pg = readPidFile(`${h.dataDir}/postmaster.pid`);
      const state = (pid: number | null) => (pid && isAlive(pid) ? `up (pid ${pid})` : 'down');
      console.log(`${h.name} ${h.address} ${h.role}: sshd ${state(sshd)}, postgres ${state(pg)}`);
    }
    console.log(`inventory ${lab.inventory}`);
    return 0;
  }
  console.error('usage: lab up N | down | status [--root DIR]');
  return 5;
}

// `node --test dist/test` also runs this file (it matches **/test/**/*.js): as a test it has nothing to do.
if (process.env.NODE_TEST_CONTEXT && process.argv.length <= 2) process.exit(0);

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`lab: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
