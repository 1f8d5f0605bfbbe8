// ansible_ssh_common_args and ansible_ssh_extra_args read the way OpenSSH reads its command line: -o Keyword=value
// (or "Keyword value"), -i, -p, -l, -J, -F and a few flags. Every option either changes what pgplay does, has nothing
// to change in pgplay (said below, with why), or is refused with its place: none is dropped silently.
import { ShellWordsError, splitWords } from '../config/shell-words';

/** An ssh option as OpenSSH would hold it: keyword in lower case, its value, and where in the text it is. */
export interface SshArg {
  keyword: string;
  /** The keyword as written, for messages. */
  name?: string;
  value: string;
  /** 0-based offset in the text of the option (or its value). */
  offset: number;
}

export class SshArgError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/** Keywords pgplay reads and uses, by lower-case name, with OpenSSH's spelling. */
export const SUPPORTED_KEYWORDS: Record<string, string> = {
  hostname: 'HostName',
  port: 'Port',
  user: 'User',
  identityfile: 'IdentityFile',
  identitiesonly: 'IdentitiesOnly',
  identityagent: 'IdentityAgent',
  userknownhostsfile: 'UserKnownHostsFile',
  globalknownhostsfile: 'GlobalKnownHostsFile',
  stricthostkeychecking: 'StrictHostKeyChecking',
  hostkeyalias: 'HostKeyAlias',
  hashknownhosts: 'HashKnownHosts',
  proxyjump: 'ProxyJump',
  connecttimeout: 'ConnectTimeout',
  serveraliveinterval: 'ServerAliveInterval',
  serveralivecountmax: 'ServerAliveCountMax',
  passwordauthentication: 'PasswordAuthentication',
  pubkeyauthentication: 'PubkeyAuthentication',
  compression: 'Compression',
  addressfamily: 'AddressFamily',
  controlmaster: 'ControlMaster',
  controlpersist: 'ControlPersist',
};

/** Keywords that change nothing pgplay does, and why: accepted so that Ansible's usual arguments work. */
export const NO_EFFECT_KEYWORDS: Record<string, string> = {
  controlpath: "pgplay's kept connections are behind its own socket ($XDG_RUNTIME_DIR/pgplay or ~/.pgplay/cp)",
  batchmode: 'pgplay never prompts',
  loglevel: "pgplay's output is its own",
  tcpkeepalive: 'pgplay keeps TCP keepalive on',
  checkhostip: 'host keys are checked under the host name',
  updatehostkeys: 'pgplay never changes known keys',
  visualhostkey: 'pgplay prints no key art',
  addkeystoagent: 'pgplay adds no key to the agent',
  sendenv: 'pgplay sends no environment variable',
  preferredauthentications: 'pgplay tries public keys, the agent, then a password from the environment',
  kbdinteractiveauthentication: 'pgplay never answers prompts',
  challengeresponseauthentication: 'pgplay never answers prompts',
  gssapiauthentication: 'pgplay does not use GSSAPI',
  numberofpasswordprompts: 'pgplay never prompts',
  requesttty: 'pgplay never asks for a terminal',
  forwardx11: 'pgplay forwards nothing',
  forwardagent: 'pgplay never forwards the agent',
  exitonforwardfailure: 'pgplay forwards nothing',
  clearallforwardings: 'pgplay forwards nothing',
  escapechar: 'pgplay has no interactive session',
};

/** Values of NO_EFFECT keywords that would ask for something pgplay does not do: refused rather than ignored. */
const REFUSED_VALUES: Record<string, { values: string[]; why: string }> = {
  forwardagent: { values: ['yes', 'true'], why: 'pgplay never forwards the agent' },
  gssapiauthentication: { values: ['yes', 'true'], why: 'pgplay does not use GSSAPI' },
  requesttty: { values: ['yes', 'force'], why: 'pgplay runs commands without a terminal' },
  forwardx11: { values: ['yes', 'true'], why: 'pgplay forwards nothing' },
};

const FLAGS_WITH_VALUE: Record<string, string> = { i: 'identityfile', p: 'port', l: 'user', J: 'proxyjump', F: 'configfile', o: '' };
const NO_EFFECT_FLAGS: Record<string, string> = {
  q: 'quiet',
  v: 'verbose',
  T: 'no terminal (pgplay never asks for one)',
  n: 'no standard input',
  N: 'no command',
  x: 'no X11 forwarding',
  a: 'no agent forwarding',
  k: 'no GSSAPI delegation',
};

/** The options of an ssh arguments text, in order; the first of a keyword wins, as in OpenSSH. */
export function parseSshArgs(text: string): SshArg[] {
  let words;
  try {
    words = splitWords(text);
  } catch (err) {
    if (err instanceof ShellWordsError) throw new SshArgError(`cannot split these ssh arguments: ${err.message}`, err.offset);
    throw err;
  }
  const out: SshArg[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (!w.text.startsWith('-') || w.text === '-') throw new SshArgError(`'${w.text}' is not an ssh option: ssh arguments hold options only (-o Keyword=value, -i FILE, -p PORT, -l USER, -J HOPS, -F FILE)`, w.start);
    // Flags may be bundled (-Cq); a flag that takes a value takes the rest of the word or the next word.
    for (let j = 1; j < w.text.length; j++) {
      const flag = w.text[j];
      if (flag in FLAGS_WITH_VALUE) {
        let value = w.text.slice(j + 1);
        let offset = w.start + j + 1;
        if (value === '') {
          const next = words[++i];
          if (!next) throw new SshArgError(`-${flag} needs a value`, w.start);
          value = next.text;
          offset = next.start;
        }
        if (flag === 'o') out.push(option(value, offset));
        else out.push({ keyword: FLAGS_WITH_VALUE[flag], value, offset });
        break;
      }
      if (flag === '4' || flag === '6') out.push({ keyword: 'addressfamily', value: flag === '4' ? 'inet' : 'inet6', offset: w.start });
      else if (flag === 'C') out.push({ keyword: 'compression', value: 'yes', offset: w.start });
      else if (flag === 'A') throw new SshArgError('-A forwards the agent, which pgplay never does', w.start);
      else if (flag === 't') throw new SshArgError('-t asks for a terminal: pgplay runs commands without one', w.start);
      else if (!(flag in NO_EFFECT_FLAGS)) throw new SshArgError(`pgplay does not support the ssh option -${flag}${flagHint(flag)}`, w.start);
    }
  }
  for (const a of out) checkKeyword(a);
  return out;
}

function flagHint(flag: string): string {
  if ('LRDW'.includes(flag)) return ': pgplay forwards no port';
  if (flag === 'S') return ": pgplay's kept connections (ControlPersist) are behind its own socket";
  return '';
}

/** `Keyword=value` or `Keyword value`, as OpenSSH reads one -o. */
function option(text: string, offset: number): SshArg {
  const m = /^\s*([A-Za-z0-9]+)(?:\s*=\s*|\s+)(.*?)\s*$/.exec(text);
  if (!m || m[2] === '') throw new SshArgError(`-o needs Keyword=value, got '${text}'`, offset);
  const value = m[2].replace(/^"(.*)"$/, '$1');
  return { keyword: m[1].toLowerCase(), name: m[1], value, offset: offset + text.indexOf(m[1]) };
}

function checkKeyword(a: SshArg): void {
  if (a.keyword === 'configfile' || a.keyword in SUPPORTED_KEYWORDS) return;
  const refused = REFUSED_VALUES[a.keyword];
  if (refused && refused.values.includes(a.value.toLowerCase())) throw new SshArgError(`${a.name ?? a.keyword}=${a.value} is refused: ${refused.why}`, a.offset);
  if (a.keyword in NO_EFFECT_KEYWORDS) return;
  if (a.keyword === 'proxycommand') {
    if (a.value.toLowerCase() === 'none') return;
    throw new SshArgError('ProxyCommand is not supported: reach the host through a bastion with ProxyJump (-J or -o ProxyJump=user@bastion)', a.offset);
  }
  throw new SshArgError(`pgplay does not support the ssh option ${a.name ?? a.keyword}: it reads ${Object.values(SUPPORTED_KEYWORDS).join(', ')}`, a.offset);
}

export function spell(keyword: string): string {
  return SUPPORTED_KEYWORDS[keyword] ?? keyword;
}
