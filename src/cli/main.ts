#!/usr/bin/env node
/**
 * The `ffrtmp` executable: turns on Node's compile cache (src/cli/compile-cache.ts) before
 * anything else is loaded, then runs the CLI: src/cli/cli.ts and all it requires, bundled into one
 * file, dist/cli/ffrtmp.js, by scripts/bundle-cli.js (`npm run build`; why: docs/benchmarks.md).
 */
import { enableCompileCache } from './compile-cache';

enableCompileCache();
// eslint-disable-next-line @typescript-eslint/no-require-imports
require('./ffrtmp.js');
