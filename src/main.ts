// Entry point: `--version` answers before anything heavy loads; everything else goes through cli.ts.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`pgplay ${(require('../../package.json') as { version: string }).version}\n`);
} else {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  (require('./cli') as typeof import('./cli')).main(args).then(exitWhenWritten);
}

/**
 * pgplay is done once a command returns: a run has closed its connections without waiting for the hosts (each
 * host's agent ends by itself), and what is left in Node (sockets closing, the heap) only delays the exit by tens of
 * ms. It exits at once unless output is still queued (a full pipe): then Node drains it and exits by itself.
 */
function exitWhenWritten(code: number): void {
  process.exitCode = code;
  if (process.stdout.writableLength === 0 && process.stderr.writableLength === 0) process.exit(code);
}
