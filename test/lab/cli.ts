// The lab for people and for the benchmark:
//   node dist/test/lab/cli.js up N | down | status [--root DIR]                       loopback lab (127.0.0.11..)
//   node dist/test/lab/cli.js up N --netns [--layout debian|rhel|mixed|L1,L2,..] [--without-cluster pg1,..] [--id ID] [--subnet CIDR] [--root DIR] [--sshd-only]
//   node dist/test/lab/cli.js down|status --netns [--id ID] [--root DIR]
//   node dist/test/lab/cli.js cut|restore HOST --netns [--root DIR]                   take a host's link down or up
import { DEFAULT_ROOT, labDown, labUp, readLab } from './lab';
import { cutLink, NETNS_DEFAULT_ROOT, netnsLabDown, netnsLabUp, parseLayout, readNetnsLab, restoreLink } from './netns-lab';
import { isAlive, readPidFile } from './processes';

const USAGE = [
  'usage: lab up N | down | status [--root DIR]',
  '       lab up N --netns [--layout debian|rhel|mixed|L1,L2,...] [--without-cluster pg1,...] [--id ID] [--subnet CIDR] [--root DIR] [--sshd-only]',
  '       lab down | status --netns [--id ID] [--root DIR]',
  '       lab cut | restore HOST --netns [--root DIR]',
].join('\n');

const VALUED = new Set(['--root', '--layout', '--id', '--subnet', '--without-cluster']);

function parse(argv: string[]): { words: string[]; flags: Map<string, string> } {
  const words: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (VALUED.has(a)) {
      if (argv[i + 1] === undefined) throw new Error(`${a} needs a value`);
      flags.set(a, argv[++i]);
    } else if (a.startsWith('--')) flags.set(a, 'true');
    else words.push(a);
  }
  return { words, flags };
}

const seconds = (started: number) => ((Date.now() - started) / 1000).toFixed(1);
const state = (pid: number | null) => (pid && isAlive(pid) ? `up (pid ${pid})` : 'down');

async function netns(what: string | undefined, arg: string | undefined, flags: Map<string, string>): Promise<number> {
  const root = flags.get('--root') ?? NETNS_DEFAULT_ROOT;
  const id = flags.get('--id');
  if (what === 'up') {
    const started = Date.now();
    const layout = parseLayout(flags.get('--layout') ?? 'debian');
    const withoutCluster = flags.get('--without-cluster')?.split(',').map((n) => n.trim());
    const lab = await netnsLabUp(Number(arg ?? 2), { root, id, layout, subnet: flags.get('--subnet'), withoutCluster, sshdOnly: flags.has('--sshd-only') });
    const hosts = lab.hosts.map((h) => `${h.name} ${h.address} ${h.layout}${h.binariesOnly ? ' (binaries only)' : ''}`).join(', ');
    console.log(`lab up: ${lab.hosts.length} hosts in ${seconds(started)} s on ${lab.network.subnet} (${hosts}), inventory ${lab.inventory}`);
    return 0;
  }
  if (what === 'down') {
    const started = Date.now();
    await netnsLabDown(root, id);
    console.log(`lab down: ${root} removed in ${seconds(started)} s`);
    return 0;
  }
  const lab = readNetnsLab(root);
  if (!lab) {
    console.log(`no network-namespace lab at ${root}`);
    return 1;
  }
  if (what === 'status') {
    for (const h of lab.hosts) {
      const pg = readPidFile(`${h.dataDir}/postmaster.pid`);
      console.log(`${h.name} ${h.address} ${h.role} ${h.layout} (netns ${h.netns}): sshd ${state(readPidFile(h.sshd.pidFile))}, postgres ${state(pg)}`);
    }
    console.log(`control ${lab.network.control.address} on ${lab.network.control.link}; inventory ${lab.inventory}`);
    return 0;
  }
  if ((what === 'cut' || what === 'restore') && arg) {
    await (what === 'cut' ? cutLink : restoreLink)(lab, arg);
    console.log(`${arg}: link ${what === 'cut' ? 'down' : 'up'}`);
    return 0;
  }
  console.error(USAGE);
  return 5;
}

async function main(argv: string[]): Promise<number> {
  const { words, flags } = parse(argv);
  const [what, arg] = words;
  if (flags.has('--netns')) return netns(what, arg, flags);
  const root = flags.get('--root') ?? DEFAULT_ROOT;
  if (what === 'up') {
    const started = Date.now();
    const lab = await labUp(Number(arg ?? 2), { root });
    console.log(`lab up: ${lab.hosts.length} hosts in ${seconds(started)} s, inventory ${lab.inventory}`);
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
      const pg = readPidFile(`${h.dataDir}/postmaster.pid`);
      console.log(`${h.name} ${h.address} ${h.role}: sshd ${state(readPidFile(h.sshd.pidFile))}, postgres ${state(pg)}`);
    }
    console.log(`inventory ${lab.inventory}`);
    return 0;
  }
  console.error(USAGE);
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
