// Entry point: `--version` answers before anything heavy loads; everything else goes through cli.ts.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`pgplay ${(require('../../package.json') as { version: string }).version}\n`);
} else {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  (require('./cli') as typeof import('./cli')).main(args).then((code) => {
    process.exitCode = code;
  });
}
