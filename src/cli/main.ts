#!/usr/bin/env node
/**
 * The `ffrtmp` executable: turns on Node's compile cache (src/cli/compile-cache.ts) before
 * anything else is loaded, then runs the CLI: src/cli/cli.ts and all it requires, bundled into one
 * file, dist/cli/ffrtmp.js, by scripts/bundle-cli.js (`npm run build`), with its own code cache
 * (src/cli/code-cache.ts). This file is bundled too, with those two modules, into one
 * dist/cli/main.js. Why all this: docs/benchmarks.md, "Start-up".
 */
import { join } from 'node:path';
import { runBundle } from './code-cache';
import { enableCompileCache } from './compile-cache';

enableCompileCache();
runBundle(join(__dirname, 'ffrtmp.js'), process.argv[2]);
