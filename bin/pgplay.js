#!/usr/bin/env node
// `--version` answers from main.js at once. Anything else starts from the bundled code with its code cache when the
// build made them and they are current (src/bundle-start.ts), from the modules otherwise.
const args = process.argv.slice(2);
const version = args.length === 1 && (args[0] === '--version' || args[0] === '-V');
if (version || !require('../dist/src/bundle-start.js').startBundled()) require('../dist/src/main.js');
