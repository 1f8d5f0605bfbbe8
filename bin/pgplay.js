#!/usr/bin/env node
// `--version` answers here, before any of pgplay loads: one small file read and one write (process.stdout alone
// would cost more than the rest). Anything else starts from the bundled code with its code cache when the build made
// them and they are current (src/bundle-start.ts), from the modules otherwise.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  const { readFileSync, writeSync } = require('node:fs');
  const line = `pgplay ${JSON.parse(readFileSync(`${__dirname}/../package.json`, 'utf8')).version}\n`;
  try {
    writeSync(1, line);
  } catch (err) {
    // A stdout that would block: the stream waits for it. Any other error (a reader gone: EPIPE) leaves nothing to do.
    if (err.code === 'EAGAIN') process.stdout.write(line);
  }
} else if (!require('../dist/src/bundle-start.js').startBundled()) require('../dist/src/main.js');
