// The JSON Schemas of playbooks and inventories. The playbook schema is built from the modules' own argument
// schemas (one source of truth); `npm run schemas` writes both to schemas/, and a test keeps those files in step.
import { allModules } from '../modules/registry';
import type { JsonSchema, ModuleDefinition } from '../modules/types';
import { forEditors } from './schema-text';

const TEMPLATE_REF = { $ref: '#/definitions/template' };

/** Task keywords besides the module key. */
export const TASK_KEYWORDS = ['name', 'when', 'notify', 'tags', 'register', 'loop', 'retries', 'delay', 'ignore_errors', 'no_log'];
export const HANDLER_KEYWORDS = [...TASK_KEYWORDS, 'listen'];
export const PLAY_KEYWORDS = ['name', 'hosts', 'vars', 'tasks', 'handlers'];

const META = ['description', 'examples', 'default', 'title', 'markdownDescription'];

/**
 * Let a value be written as one {{ expr }} wherever the schema wants something a template string would not
 * match (a number, a list, an enum, a pattern): the value is checked again after rendering, at run time.
 */
export function allowTemplates(schema: JsonSchema): JsonSchema {
  const meta: JsonSchema = {};
  const inner: JsonSchema = {};
  for (const [k, v] of Object.entries(schema)) (META.includes(k) ? meta : inner)[k] = v;
  if (inner.properties) inner.properties = mapValues(inner.properties as Record<string, JsonSchema>, allowTemplates);
  if (inner.items && typeof inner.items === 'object' && !Array.isArray(inner.items)) inner.items = allowTemplates(inner.items as JsonSchema);
  if (inner.additionalProperties && typeof inner.additionalProperties === 'object') inner.additionalProperties = allowTemplates(inner.additionalProperties as JsonSchema);
  const plainString = inner.type === 'string' && inner.enum === undefined && inner.pattern === undefined;
  if (plainString || inner.$ref) return { ...meta, ...inner };
  return { ...meta, anyOf: [inner, TEMPLATE_REF] };
}

function mapValues(obj: Record<string, JsonSchema>, fn: (s: JsonSchema) => JsonSchema): Record<string, JsonSchema> {
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, fn(v)]));
}

const requiresOneKey = (b: unknown) => typeof b === 'object' && b !== null && Array.isArray((b as JsonSchema).required) && Object.keys(b).length === 1 && ((b as JsonSchema).required as string[]).length === 1;

/**
 * A module's argument schema as the playbook schema holds it: every argument may be a {{ expr }}, and "one of
 * these arguments" (a oneOf of required keys) takes the shape editors report well.
 */
export function moduleArgsSchema(schema: JsonSchema, module = 'the module'): JsonSchema {
  const { properties, oneOf, ...rest } = schema;
  const out: JsonSchema = { ...rest, properties: mapValues((properties ?? {}) as Record<string, JsonSchema>, allowTemplates) };
  if (Array.isArray(oneOf) && oneOf.length > 1 && oneOf.every(requiresOneKey)) {
    const names = oneOf.map((b) => ((b as JsonSchema).required as string[])[0]);
    const list = `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
    return { ...out, ...exactlyOneKey(names, `${module} needs ${list}.`, (a, b) => `${module} takes ${a} or ${b}, not both.`) };
  }
  return oneOf === undefined ? out : { ...out, oneOf };
}

const stringOrList = (description: string, examples?: unknown[]): JsonSchema => ({
  description,
  ...(examples ? { examples } : {}),
  anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
});

function taskSchema(kind: 'task' | 'handler'): JsonSchema {
  const modules = allModules();
  const properties: Record<string, JsonSchema> = {
    name: { type: 'string', description: kind === 'handler' ? 'Handler name: what tasks notify.' : 'What the task does, shown in the output.', examples: ['Replication settings'] },
    when: {
      description: "Run only when this condition holds: a helper expression such as `eq pg_role 'primary'` or `not result.changed` (a list: all must hold).",
      anyOf: [{ type: 'string' }, { type: 'boolean' }, { type: 'array', items: { anyOf: [{ type: 'string' }, { type: 'boolean' }] } }],
      examples: ['includes groups.replicas host.name'],
    },
    notify: {
      description: 'Handlers to run at the end of the play when this task changed something. A mapping picks the handler by what the module reports: `restart`, `reload`, or `changed`.',
      anyOf: [
        { type: 'string' },
        { type: 'array', items: { type: 'string' } },
        {
          type: 'object',
          properties: {
            restart: { type: 'string', description: 'Handler to notify when the change needs a restart (a setting of context postmaster changed).', examples: ['restart postgresql'] },
            reload: { type: 'string', description: 'Handler to notify when the change needs a reload, unless a restart is needed and `restart` names a handler.', examples: ['reload postgresql'] },
            changed: { type: 'string', description: 'Handler to notify for any other change: one that needs neither a restart nor a reload that this mapping names a handler for.' },
          },
          additionalProperties: false,
          minProperties: 1,
        },
      ],
      examples: ['restart postgresql', { restart: 'restart postgresql', reload: 'reload postgresql' }],
    },
    tags: stringOrList('Tags for --tags and --skip-tags (`always` and `never` as in Ansible).', [['conf']]),
    register: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$', patternErrorMessage: 'not a variable name: use letters, digits and _, not starting with a digit', description: 'Store the result under this variable name for later tasks of the host.', examples: ['replication'] },
    loop: { description: 'Run the task once per item (the item is `{{ item }}`): a list, or one {{ expr }} giving a list.', anyOf: [{ type: 'array' }, TEMPLATE_REF], examples: ['{{ groups.replicas }}'] },
    retries: { type: 'integer', minimum: 0, description: 'Try again this many times when the task fails.', examples: [3] },
    delay: { type: 'number', minimum: 0, description: 'Seconds between retries (default 5).', examples: [2] },
    ignore_errors: { type: 'boolean', description: 'A failure of this task does not stop the host.' },
    no_log: { type: 'boolean', description: "Hide this task's result: its message, diff, loop item, progress, errors and registered output are replaced by a note (its status still shows)." },
  };
  if (kind === 'handler') properties.listen = stringOrList('Topics this handler also answers to in notify.');
  for (const m of modules) properties[m.name] = { $ref: `#/definitions/module_${m.name}` };
  return {
    type: 'object',
    title: kind,
    description: kind === 'handler' ? 'A handler: a task that runs once at the end of the play when notified.' : 'A task: a name and exactly one module with its arguments, plus keywords.',
    properties,
    ...exactlyOneModule(kind, modules, Object.keys(properties).filter((k) => !modules.some((m) => m.name === k))),
  };
}

/**
 * "Exactly one of these keys" in a shape editors report well: none and two each get their own message
 * (errorMessage, which yaml-language-server shows), where a oneOf of required keys says only "Missing property"
 * or "Matches multiple schemas". pgplay's own messages read the same shape (schema-check.ts).
 */
export function exactlyOneKey(names: string[], missing: string, both: (a: string, b: string) => string): JsonSchema {
  return {
    anyOf: names.map((name) => ({ required: [name], errorMessage: missing })),
    dependencies: Object.fromEntries(
      names.slice(0, -1).map((a, i) => [a, { allOf: names.slice(i + 1).map((b) => ({ properties: { [b]: false }, errorMessage: both(a, b) })) }]),
    ),
  };
}

function exactlyOneModule(kind: 'task' | 'handler', modules: ModuleDefinition[], keywords: string[]): JsonSchema {
  const names = modules.map((m) => m.name);
  return {
    // Kept in a subschema of its own so that its message is about unknown keys only.
    allOf: [
      {
        properties: Object.fromEntries([...keywords, ...names].map((k) => [k, true])),
        additionalProperties: false,
        errorMessage: `Not a module or ${kind} keyword. Modules: ${names.join(', ')}. Keywords: ${keywords.join(', ')}.`,
      },
    ],
    ...exactlyOneKey(
      names,
      `A ${kind} needs exactly one module, one of: ${names.join(', ')}.`,
      (a, b) => `Two modules in one ${kind}, ${a} and ${b}: a ${kind} runs exactly one module, split it in two.`,
    ),
  };
}

export function playbookSchema(): JsonSchema {
  const definitions: Record<string, JsonSchema> = {
    template: {
      type: 'string',
      pattern: '^\\s*\\{\\{[\\s\\S]*\\}\\}\\s*$',
      description: 'One {{ expression }}, whose value (a list, a number) is used as it is.',
    },
    play: {
      type: 'object',
      title: 'play',
      description: 'A play: a host pattern and the tasks to run on each of those hosts, in parallel across hosts.',
      properties: {
        name: { type: 'string', description: 'What the play does.', examples: ['Configure the primary for replication'] },
        hosts: { ...stringOrList('Host pattern: a group, a host, all, a,b, or replicas:!pg3.', ['primary', 'replicas', 'replicas:!pg3']) },
        vars: { type: 'object', description: 'Variables of this play (above inventory variables, below -e).' },
        tasks: { type: 'array', items: { $ref: '#/definitions/task' }, description: 'Tasks, run in order on each host.' },
        handlers: { type: 'array', items: { $ref: '#/definitions/handler' }, description: 'Handlers, run once at the end of the play when notified.' },
      },
      required: ['hosts'],
      additionalProperties: false,
    },
    task: taskSchema('task'),
    handler: taskSchema('handler'),
  };
  for (const m of allModules()) definitions[`module_${m.name}`] = { title: m.name, description: m.summary, ...moduleArgsSchema(m.schema, m.name) };
  return forEditors({
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://pgplay.dev/schemas/playbook.schema.json',
    title: 'pgplay playbook',
    description: 'A pgplay playbook: a list of plays. See the README for the modules.',
    type: 'array',
    minItems: 1,
    items: { $ref: '#/definitions/play' },
    definitions,
  });
}

const HOST_VARIABLES: Record<string, JsonSchema> = {
  connection: { type: 'string', enum: ['ssh', 'local'], default: 'ssh', description: 'How to reach the host: ssh, or local (this machine, child processes).' },
  ansible_connection: { type: 'string', enum: ['ssh', 'local'], description: 'Ansible name of `connection`.' },
  ansible_host: { type: 'string', description: 'Address to connect to over SSH (default: the inventory name).', examples: ['10.0.0.11'] },
  address: { type: 'string', description: 'pgplay name of ansible_host.' },
  ansible_port: { type: 'integer', minimum: 1, maximum: 65535, description: 'SSH port (default 22).' },
  ssh_port: { type: 'integer', minimum: 1, maximum: 65535, description: 'pgplay name of ansible_port.' },
  ansible_user: { type: 'string', description: 'SSH login user; it needs passwordless sudo (or su) to the PostgreSQL OS user.', examples: ['admin'] },
  ssh_user: { type: 'string', description: 'pgplay name of ansible_user.' },
  ansible_ssh_private_key_file: { type: 'string', description: 'Private key file (default: the SSH agent).', examples: ['~/.ssh/id_ed25519'] },
  ssh_private_key_file: { type: 'string', description: 'pgplay name of ansible_ssh_private_key_file.' },
  ssh_known_hosts_file: { type: 'string', description: 'known_hosts file host keys are verified against (default ~/.ssh/known_hosts).' },
  ssh_accept_new_host_keys: { type: 'boolean', description: 'Record the key of a host seen for the first time (StrictHostKeyChecking=accept-new). A changed key is always refused.' },
  ssh_password_env: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$', patternErrorMessage: 'not an environment variable name: use letters, digits and _, not starting with a digit', description: 'Name of the environment variable holding the SSH password, when keys are not used.' },
  ssh_connect_timeout: { type: 'number', minimum: 1, description: 'Seconds to wait for the SSH connection (default 10).' },
  ssh_control_persist: { type: ['string', 'number', 'boolean'], description: "Keep each host's SSH connection between runs for this long idle (ControlMaster=auto with ControlPersist: 60, 60s, 10m, 1h30m; yes or 0 until stopped; no: one connection per run, the default).", examples: ['60s'] },
  ansible_ssh_common_args: { type: 'string', description: 'ssh options, read as OpenSSH reads its command line: -o Keyword=value, -i, -p, -l, -J, -F (see the README for the keywords pgplay reads; any other is an error).', examples: ['-o UserKnownHostsFile=~/.ssh/known_hosts_prod -o ProxyJump=bastion'] },
  ansible_ssh_extra_args: { type: 'string', description: 'More ssh options, after ansible_ssh_common_args.' },
  ssh_config_file: { type: 'string', description: 'The ssh_config to read instead of ~/.ssh/config and /etc/ssh/ssh_config (as ssh -F).' },
  become_method: { type: 'string', enum: ['sudo', 'su'], default: 'sudo', description: 'How the host agent gets root (or ansible_become_user) once per run when the login user is not that user: sudo, or su without a password.' },
  ansible_become: { type: 'boolean', description: 'Commands of command and template tasks that name no user run as ansible_become_user (else as the login user). pgplay\'s host agent becomes root (or ansible_become_user) once per run whatever this says, unless it is set to false: then it runs as the login user, which must be the PostgreSQL OS user.' },
  ansible_become_user: { type: 'string', default: 'root', description: 'The user of ansible_become.' },
  ansible_become_method: { type: 'string', enum: ['sudo', 'su'], description: 'Ansible name of become_method.' },
  ansible_become_password: { type: 'string', description: 'The sudo password, only from the environment: "{{ lookup(\'env\', \'NAME\') }}". A password written here is refused.' },
  become_password_env: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$', patternErrorMessage: 'not an environment variable name: use letters, digits and _, not starting with a digit', description: 'Name of the environment variable holding the sudo password.' },
  pg_version: { type: ['string', 'number'], description: 'PostgreSQL major version.', examples: [15] },
  pg_bin_dir: { type: 'string', description: 'Directory of pg_ctl, pg_basebackup, postgres.', examples: ['/usr/lib/postgresql/15/bin', '/usr/pgsql-15/bin'] },
  pg_data_dir: { type: 'string', description: 'Data directory.', examples: ['/var/lib/postgresql/15/main', '/var/lib/pgsql/15/data'] },
  pg_config_dir: { type: 'string', description: 'Directory of postgresql.conf and pg_hba.conf (Debian: /etc/postgresql/15/main; RHEL: the data directory).' },
  pg_socket_dir: { type: 'string', description: 'Unix socket directory.', examples: ['/var/run/postgresql'] },
  pg_port: { type: 'integer', minimum: 1, maximum: 65535, default: 5432, description: 'Server port.' },
  pg_address: { type: 'string', description: 'Address replicas and clients use to reach this server.', examples: ['10.0.0.11'] },
  pg_client_address: { type: 'string', description: "Address this host's connections to other servers come from, when it is not pg_address (NAT, several interfaces; on a loopback lab every connection comes from 127.0.0.1).", examples: ['10.0.1.12'] },
  pg_os_user: { type: 'string', default: 'postgres', description: 'OS user the server runs as.' },
  pg_service: {
    type: 'string',
    pattern: '^(pg_ctl|pg_ctlcluster|systemd:.+)$',
    patternErrorMessage: 'not pg_ctl, pg_ctlcluster or systemd:UNIT',
    default: 'pg_ctl',
    description: "How to control the server: pg_ctl (as the PostgreSQL OS user), pg_ctlcluster (Debian's postgresql-common, as root: `pg_ctlcluster VERSION pg_cluster start`), or systemd:UNIT.",
    examples: ['pg_ctl', 'pg_ctlcluster', 'systemd:postgresql@15-main'],
  },
  pg_cluster: {
    type: 'string',
    pattern: '^[^/\\s]+$',
    patternErrorMessage: 'a cluster name, without / or spaces',
    description: "Debian cluster name, as pg_lsclusters shows it (default: NAME of a pg_config_dir /etc/postgresql/VERSION/NAME, else main). With pg_service: pg_ctlcluster it also gives the default pg_data_dir, pg_config_dir and pg_log_file.",
    examples: ['main'],
  },
  pg_log_file: { type: 'string', description: 'Server log file: pg_ctl -l writes it; with pg_ctlcluster, where postgresql-common logs (/var/log/postgresql/postgresql-VERSION-CLUSTER.log).' },
  pg_manage_packages: { type: 'boolean', default: true, description: "site.yml installs the server packages (pg_packages) and creates the cluster when there is none; false when packages are managed elsewhere." },
  pg_packages: {
    description: 'The server packages site.yml installs, per package manager (default: apt postgresql-VERSION, dnf postgresqlVERSION-server from the PGDG repository).',
    anyOf: [
      { type: 'string' },
      { type: 'array', items: { type: 'string' } },
      {
        type: 'object',
        properties: {
          apt: { type: ['string', 'array'], items: { type: 'string' }, description: 'The names on hosts where apt runs (Debian, Ubuntu).' },
          dnf: { type: ['string', 'array'], items: { type: 'string' }, description: 'The names on hosts where dnf runs (RHEL and its kin).' },
        },
        additionalProperties: false,
      },
    ],
    examples: [{ apt: ['postgresql-15'], dnf: ['postgresql15-server'] }],
  },
  pg_manage_firewall: { type: 'boolean', default: true, description: "site.yml opens pg_port on the primary to its replicas' addresses (ufw, firewalld or nftables, whichever is active); false when the firewall is managed elsewhere." },
  pgplay_lock_file: { type: 'string', description: 'Lock file that keeps two pgplay runs off this host at once.' },
  replication_slot: { type: 'string', pattern: '^[a-z0-9_]{1,63}$', patternErrorMessage: 'a slot name: lower-case letters, digits and _, at most 63', description: "site.yml: this replica's physical replication slot on the primary (default: its inventory name, lower case, other characters _)." },
  unowned_slots: { type: 'string', enum: ['report', 'drop', 'ignore'], default: 'report', description: 'site.yml: what to do with slots on the primary that no replica owns: report (a warning), drop (inactive ones), ignore.' },
  max_slot_wal_keep_size: { type: ['string', 'integer'], default: '8GB', description: 'site.yml: the most WAL a slot may keep on the primary for a standby that is gone (max_slot_wal_keep_size); the disk under pg_wal must hold it.', examples: ['8GB', '50GB'] },
  replication_tls: { type: 'boolean', default: false, description: 'site.yml: replication over TLS: a certificate per host, ssl = on, hostssl rules, replicas with sslmode=verify-full. Needs tls_ca_dir, or tls_ca_cert and tls_ca_key.' },
  tls_ca_dir: { type: 'string', description: 'Where pgplay makes its CA and keeps it, on the control machine, outside any git work tree.', examples: ['~/.pgplay/ca'] },
  tls_ca_cert: { type: 'string', description: 'Your CA certificate (PEM), on the control machine.' },
  tls_ca_key: { type: 'string', description: "Your CA's private key (PEM), on the control machine." },
  tls_cert_days: { type: 'integer', minimum: 1, maximum: 3650, default: 365, description: 'Validity of the server certificates pgplay issues, in days.' },
  tls_rotate: { type: 'boolean', default: false, description: 'Issue new server certificates and keys on this run (-e tls_rotate=true).' },
  pg_dns_name: { type: 'string', description: "This host's DNS name, put in its certificate's subjectAltName beside pg_address.", examples: ['pg1.example.com'] },
  synchronous_standbys: { type: 'array', items: { type: 'string' }, default: [], description: 'site.yml: inventory names of the standbys that may be synchronous, in priority order; empty: asynchronous.', examples: [['pg2', 'pg3']] },
  synchronous_method: { type: 'string', enum: ['FIRST', 'ANY', 'first', 'any'], default: 'FIRST', description: 'site.yml: FIRST n (priority) or ANY n (quorum).' },
  synchronous_count: { type: 'integer', minimum: 1, default: 1, description: 'site.yml: how many synchronous standbys confirm each commit.' },
  synchronous_commit: { type: 'string', enum: ['on', 'remote_apply', 'remote_write', 'local', 'off'], default: 'on', description: "site.yml: the primary's synchronous_commit." },
  pgplay_lock_wait: { type: 'number', minimum: 0, default: 60, description: 'Seconds to wait for another run to release the host.' },
};

export function inventorySchema(): JsonSchema {
  const vars: JsonSchema = {
    type: ['object', 'null'],
    description: 'Variables. pgplay knows these; any other name is a variable for playbooks.',
    properties: mapValues(HOST_VARIABLES, allowTemplates),
    additionalProperties: true,
  };
  return forEditors({
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://pgplay.dev/schemas/inventory.schema.json',
    title: 'pgplay inventory',
    description: "An inventory in Ansible's YAML layout: all: {vars, hosts, children: {primary: {hosts: {pg1: {...}}}, replicas: {...}}}.",
    type: 'object',
    properties: { all: { $ref: '#/definitions/group' } },
    additionalProperties: { $ref: '#/definitions/group' },
    definitions: {
      group: {
        type: ['object', 'null'],
        description: 'A group: its hosts, its variables and its child groups.',
        properties: {
          hosts: { type: ['object', 'null'], description: 'Hosts of the group, each with its own variables.', additionalProperties: { $ref: '#/definitions/vars' } },
          vars: { $ref: '#/definitions/vars' },
          children: { type: ['object', 'null'], description: 'Child groups.', additionalProperties: { $ref: '#/definitions/group' } },
        },
        additionalProperties: false,
      },
      vars,
      template: {
        type: 'string',
        pattern: '^\\s*\\{\\{[\\s\\S]*\\}\\}\\s*$',
        description: 'One {{ expression }}, whose value is used as it is.',
      },
    },
  });
}
