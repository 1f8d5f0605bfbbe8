// pg's `stream` option over a command channel: a perl relay between stdin/stdout and the server's unix socket.
import { Duplex } from 'node:stream';
import type { Channel } from '../connection/types';

/**
 * Connects to the socket named in argv[1], says READY on stderr, then copies bytes both ways until either side ends.
 * It loads no Perl module on Linux (AF_UNIX and SOCK_STREAM are 1 there): IO::Socket and IO::Select cost ~13 ms of
 * start-up per session, on every host of every run.
 */
export const RELAY_SCRIPT = [
  'my $path = $ARGV[0]; my $s;',
  "if ($^O eq 'linux') { socket($s, 1, 1, 0) && connect($s, pack('S Z108', 1, $path)) or undef $s; }",
  'else { require Socket; socket($s, Socket::AF_UNIX(), Socket::SOCK_STREAM(), 0) && connect($s, Socket::pack_sockaddr_un($path)) or undef $s; }',
  'unless ($s) { print STDERR "pgplay-relay: $!\\n"; exit 2; }',
  'binmode STDIN; binmode STDOUT; binmode $s;',
  'syswrite(STDERR, "pgplay-relay: READY\\n");',
  'sub put { my ($fh, $d) = @_; my $o = 0; while ($o < length $d) { my $n = syswrite($fh, $d, length($d) - $o, $o); exit 0 unless defined $n; $o += $n; } }',
  'my ($in, $sock) = (fileno(STDIN), fileno($s)); my $rin = ""; vec($rin, $in, 1) = 1; vec($rin, $sock, 1) = 1; my ($rout, $buf);',
  'while (1) { next if select($rout = $rin, undef, undef, undef) < 0;',
  '  if (vec($rout, $sock, 1)) { my $n = sysread($s, $buf, 65536); exit 0 unless $n; put(\\*STDOUT, $buf); }',
  '  if (vec($rout, $in, 1)) { my $n = sysread(STDIN, $buf, 65536); exit 0 unless $n; put($s, $buf); } }',
].join('\n');

export function relayArgv(socketPath: string): string[] {
  return ['perl', '-e', RELAY_SCRIPT, socketPath];
}

/** A Duplex over a relay channel, shaped like the net.Socket pg expects. */
export class RelaySocket extends Duplex {
  #stderr = '';
  #ready = false;
  #connectWanted = false;

  constructor(
    private readonly channel: Channel,
    /** relayRan: the relay itself ran and could not reach the socket (else sudo/su or perl failed). */
    private readonly describeFailure: (reason: string, relayRan: boolean) => string,
  ) {
    super({ allowHalfOpen: false });
    channel.stdout.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) channel.stdout.pause();
    });
    // Before READY an end means the relay failed: the exit handler reports why.
    channel.stdout.on('end', () => {
      if (this.#ready) this.push(null);
    });
    channel.stderr.setEncoding('utf8');
    channel.stderr.on('data', (text: string) => this.#onStderr(text));
    void channel.exited.then((code) => {
      if (!this.#ready) this.destroy(new Error(this.describeFailure(this.#reason(code), this.#stderr.includes('pgplay-relay: '))));
    });
  }

  /** pg calls connect(port, host); the channel is already running, so wait for the relay's READY. */
  connect(): this {
    this.#connectWanted = true;
    if (this.#ready) process.nextTick(() => this.emit('connect'));
    return this;
  }

  #onStderr(text: string): void {
    this.#stderr += text;
    if (!this.#ready && this.#stderr.includes('pgplay-relay: READY\n')) {
      this.#ready = true;
      this.#stderr = this.#stderr.replace('pgplay-relay: READY\n', '');
      if (this.#connectWanted) this.emit('connect');
    }
  }

  #reason(code: number | null): string {
    const said = this.#stderr.replace(/^pgplay-relay: /gm, '').trim().split('\n').filter(Boolean).join('; ');
    return said || `relay exited with ${code}`;
  }

  override _read(): void {
    this.channel.stdout.resume();
  }

  #pending: Buffer[] = [];
  #pendingCallbacks: Array<(err?: Error | null) => void> = [];

  /** pg writes a query as several small messages in one tick: send them to the channel as one. */
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#pending.push(chunk);
    this.#pendingCallbacks.push(cb);
    if (this.#pending.length > 1) return;
    process.nextTick(() => {
      const data = Buffer.concat(this.#pending.splice(0));
      const callbacks = this.#pendingCallbacks.splice(0);
      this.channel.stdin.write(data, (err) => callbacks.forEach((done) => done(err)));
    });
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.channel.stdin.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.channel.stdin.end();
    this.channel.kill();
    cb(err);
  }

  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}
