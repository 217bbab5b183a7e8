#!/usr/bin/env node
/**
 * The `ffrtmp` executable: turns on Node's compile cache (src/cli/compile-cache.ts) before
 * anything else is loaded, then runs the CLI (src/cli/cli.ts).
 */
import { enableCompileCache } from './compile-cache';

enableCompileCache();
// eslint-disable-next-line @typescript-eslint/no-require-imports
require('./cli');
