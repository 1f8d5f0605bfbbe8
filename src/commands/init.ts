// pgplay init: a starting project that validates at once: an inventory (YAML or INI), group_vars/all.yml with
// Debian's PostgreSQL layout, a copy of site.yml and a README of the next commands. Secrets stay in the environment.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { ipFamily } from '../ip-address';
import { join, relative } from 'node:path';
import type { InitOptions } from '../cli';
import { BadOptionsError, ExitCode } from '../errors';
import { packageFile } from '../package-files';

export interface InitHost {
  name: string;
  address: string;
}


/** Group names the inventory uses; a host may not share one (Ansible would merge them). */
const GROUPS = ['all', 'ungrouped', 'primary', 'replicas'];
const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** `NAME=ADDRESS` of --primary or --replica, checked: a bad one is a bad option, before anything is written. */
export function parseHost(option: '--primary' | '--replica', spec: string): InitHost {
  const eq = spec.indexOf('=');
  const example = option === '--primary' ? 'pg1=10.0.0.11' : 'pg2=10.0.0.12';
  if (eq <= 0 || eq === spec.length - 1) throw new BadOptionsError(`${option} takes NAME=ADDRESS, as in ${option} ${example}; got '${spec}'`);
  const name = spec.slice(0, eq);
  const address = spec.slice(eq + 1);
  if (!HOST_NAME.test(name)) throw new BadOptionsError(`${option} ${spec}: '${name}' is not a host name (letters, digits, '.', '_' and '-')`);
  if (GROUPS.includes(name)) throw new BadOptionsError(`${option} ${spec}: '${name}' is the name of a group of the inventory; name the host otherwise`);
  if (option === '--replica' && ipFamily(address) !== 4) {
    // site.yml lets each replica in with a pg_hba.conf rule for ADDRESS/32.
    throw new BadOptionsError(`${option} ${spec}: a replica's address is an IPv4 address (site.yml lets it in with a pg_hba.conf rule for ADDRESS/32); got '${address}'`);
  }
  if (option === '--primary' && ipFamily(address) === 0 && !DNS_NAME.test(address)) {
    throw new BadOptionsError(`${option} ${spec}: '${address}' is not an IP address or a DNS name`);
  }
  return { name, address };
}

/** The files of the project, by path relative to its directory. */
export function projectFiles(o: Pick<InitOptions, 'primary' | 'replicas' | 'ini'>, schemasDir = packageFile('schemas')): Record<string, string> {
  const inventory = o.ini ? 'inventory.ini' : 'inventory.yml';
  return {
    [inventory]: o.ini ? iniInventory(o) : yamlInventory(o, schemasDir),
    'group_vars/all.yml': groupVars(schemasDir),
    'site.yml': sitePlaybook(schemasDir),
    'README.md': readme(o, inventory),
  };
}

function yamlInventory(o: Pick<InitOptions, 'primary' | 'replicas'>, schemasDir: string): string {
  const host = (h: InitHost, comment: string) => [`        ${h.name}:`, `          ansible_host: ${h.address}`, `          pg_address: ${h.address}${comment}`];
  return [
    `# yaml-language-server: $schema=${join(schemasDir, 'inventory.schema.json')}`,
    "# The hosts, in Ansible's YAML layout: the group primary (one host) and the group replicas.",
    '# Variables of every host are in group_vars/all.yml; a host of its own goes under it here.',
    'all:',
    '  children:',
    '    primary:',
    '      hosts:',
    ...host(o.primary, '          # the address replicas connect to'),
    '    replicas:',
    '      hosts:',
    ...o.replicas.flatMap((r) => host(r, '')),
    '',
  ].join('\n');
}

function iniInventory(o: Pick<InitOptions, 'primary' | 'replicas'>): string {
  const host = (h: InitHost) => `${h.name} ansible_host=${h.address} pg_address=${h.address}`;
  return [
    "# The hosts, in Ansible's INI layout: the group primary (one host) and the group replicas.",
    '# Variables of every host are in group_vars/all.yml. pg_address is the address replicas connect to.',
    '[primary]',
    host(o.primary),
    '',
    '[replicas]',
    ...o.replicas.map(host),
    '',
  ].join('\n');
}

function groupVars(schemasDir: string): string {
  return [
    `# yaml-language-server: $schema=${join(schemasDir, 'inventory.schema.json')}#/definitions/vars`,
    '# Variables of every host, read by pgplay and Ansible alike.',
    '# Secrets are never written here: they come from the environment when the playbook runs.',
    '# site.yml reads the replication password as {{ env.PGPLAY_REPLICATION_PASSWORD }}.',
    '',
    '# ansible_user: admin                     # SSH login (default: your user); it needs passwordless sudo to postgres',
    '# ansible_ssh_private_key_file: ~/.ssh/id_ed25519   # default: the SSH agent',
    '# ssh_password_env: PGPLAY_SSH_PASSWORD   # only without keys: the NAME of the variable that holds the password',
    'become_method: sudo                        # or su',
    'replication_user: replicator',
    '',
    '# Debian / Ubuntu layout (apt install postgresql-15):',
    'pg_version: 15',
    'pg_bin_dir: /usr/lib/postgresql/15/bin',
    'pg_data_dir: /var/lib/postgresql/15/main',
    'pg_config_dir: /etc/postgresql/15/main',
    'pg_socket_dir: /var/run/postgresql',
    'pg_port: 5432',
    'pg_service: systemd:postgresql@15-main',
    '# RHEL / Rocky layout (dnf install postgresql15-server from PGDG):',
    '# pg_bin_dir: /usr/pgsql-15/bin',
    '# pg_data_dir: /var/lib/pgsql/15/data',
    '# pg_config_dir: /var/lib/pgsql/15/data',
    '# pg_socket_dir: /run/postgresql',
    '# pg_service: systemd:postgresql-15',
    '',
  ].join('\n');
}

/** The shipped site.yml, with its schema line pointing at this installation's schemas and its comments at this project. */
function sitePlaybook(schemasDir: string): string {
  const text = readFileSync(packageFile('playbooks', 'site.yml'), 'utf8');
  return text
    .replace(/^# yaml-language-server: \$schema=.*$/m, `# yaml-language-server: $schema=${join(schemasDir, 'playbook.schema.json')}`)
    .replace(/playbooks\/site\.yml/g, 'site.yml');
}

function readme(o: Pick<InitOptions, 'primary' | 'replicas'>, inventory: string): string {
  const hosts = (hs: InitHost[]) => hs.map((h) => `${h.name} (${h.address})`).join(', ');
  return `# PostgreSQL streaming replication with pgplay

Written by \`pgplay init\`: ${o.primary.name} (${o.primary.address}) is the primary, ${hosts(o.replicas)} ${o.replicas.length === 1 ? 'is its replica' : 'are its replicas'}.

| file | what it holds |
|---|---|
| \`${inventory}\` | the hosts: the group \`primary\` (one host) and the group \`replicas\` |
| \`group_vars/all.yml\` | variables of every host: the SSH login, the PostgreSQL layout (Debian's) |
| \`site.yml\` | the playbook: configure the primary, clone the replicas, prove that they stream |

No secret is in these files: \`site.yml\` reads the replication password from the environment.
Each host must accept SSH from here as the user of \`group_vars/all.yml\`, with passwordless sudo to
\`postgres\`, and have its host key in \`~/.ssh/known_hosts\` (or add \`--accept-new-host-keys\` to the first run).

## Next

\`\`\`sh
read -rsp 'Replication password: ' PGPLAY_REPLICATION_PASSWORD && export PGPLAY_REPLICATION_PASSWORD
pgplay validate site.yml -i ${inventory}               # check everything, connect to nothing
pgplay run site.yml -i ${inventory} --check --diff     # what would change on the hosts
pgplay run site.yml -i ${inventory}                    # do it; a second run changes nothing
\`\`\`
`;
}

export async function initCommand(o: InitOptions): Promise<number> {
  const files = projectFiles(o);
  if (existsSync(o.dir) && !statSync(o.dir).isDirectory()) throw new BadOptionsError(`${o.dir} is not a directory`);
  const there = Object.keys(files).filter((f) => existsSync(join(o.dir, f)));
  if (there.length > 0 && !o.force) {
    const list = there.map((f) => join(o.dir, f)).join(', ');
    throw new BadOptionsError(`${list} already ${there.length === 1 ? 'exists' : 'exist'}: nothing was written (--force overwrites ${there.length === 1 ? 'it' : 'them'})`);
  }
  const written: string[] = [];
  for (const [path, text] of Object.entries(files)) {
    const target = join(o.dir, path);
    mkdirSync(join(target, '..'), { recursive: true });
    writeFileSync(target, text, { flag: o.force ? 'w' : 'wx' });
    written.push(`${there.includes(path) ? 'overwrote' : 'wrote'} ${target}`);
  }
  const inventory = o.ini ? 'inventory.ini' : 'inventory.yml';
  const dir = relative(process.cwd(), o.dir);
  const cd = /^[\w./-]*$/.test(dir) ? dir : `'${dir.replace(/'/g, "'\\''")}'`;
  process.stdout.write(
    `${written.join('\n')}\n\nNext (also in ${join(o.dir, 'README.md')}):\n${cd ? `  cd ${cd}\n` : ''}` +
      `  read -rsp 'Replication password: ' PGPLAY_REPLICATION_PASSWORD && export PGPLAY_REPLICATION_PASSWORD\n` +
      `  pgplay validate site.yml -i ${inventory}\n  pgplay run site.yml -i ${inventory} --check --diff\n  pgplay run site.yml -i ${inventory}\n`,
  );
  return ExitCode.ok;
}
