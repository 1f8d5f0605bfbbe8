#!/usr/bin/env node
// The bundled code with its code cache when the build made them and they are current (src/bundle-start.ts), the
// modules otherwise.
if (!require('../dist/src/bundle-start.js').startBundled()) require('../dist/src/main.js');
