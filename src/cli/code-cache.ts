/**
 * Runs the CLI bundle (dist/cli/ffrtmp.js, scripts/bundle-cli.js) with a V8 code cache made
 * *after* a run of the same command, so it holds the bytecode of every function that run used,
 * not only of the file's top level (which is all Node's own compile cache keeps, and in a bundle
 * every module is an inner function). A start then compiles almost nothing: ~25 ms of the ~70 ms
 * `ffrtmp run` spent above bare Node on this machine (docs/benchmarks.md, "Start-up"), on every
 * Node, 20 included.
 *
 * One cache file per (bundle, Node version, arch, command), `<dir>/<bundle id>-<node>-<arch>-<command>.v8`,
 * in the directory Node's compile cache uses (src/cli/compile-cache.ts: the user's own cache
 * directory or none, never a shared one), under `code-cache/`. The bundle id is a hash of the
 * bundle's content that scripts/bundle-cli.js writes on its first line, so a rebuilt or upgraded
 * CLI never meets the code of another; V8 itself refuses data from another V8 version or flags
 * (`cachedDataRejected`), and the file is then made again. It is written once, at the exit of a
 * start that had none (temp file and rename: concurrent starts never see half a file), 0600 in a
 * 0700 directory. `NODE_DISABLE_COMPILE_CACHE=1` turns it off with Node's cache; so do
 * `NODE_V8_COVERAGE` and `--inspect` (instrumented code is never cached).
 *
 * Without a cache directory the bundle runs the same way, only without cached data. A cache is an
 * optimisation: if anything about it fails before the bundle runs, the bundle is loaded with
 * require() instead.
 */
import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';
import { cacheBaseDir } from './compile-cache';

/** The commands that get a cache of their own; anything else (help, a typo) shares `other`. */
export const CACHED_COMMANDS = ['run', 'attach', 'doctor', 'serve', 'watch', 'jobs', 'recover', 'agent', 'submit'] as const;

const BUNDLE_ID = /^\/\/ ffrtmp-cli-bundle ([0-9a-f]{16})\n/;

/** The cache file for this bundle, Node and command, or null when there is no safe directory. */
export function codeCacheFile(source: string, command: string | undefined, env: NodeJS.ProcessEnv, euid: number): string | null {
  if (env.NODE_DISABLE_COMPILE_CACHE !== undefined && env.NODE_DISABLE_COMPILE_CACHE !== '') return null;
  // Coverage and the inspector instrument the bytecode: such code is neither used from a cache
  // nor written to one.
  if ((env.NODE_V8_COVERAGE ?? '') !== '' || process.execArgv.some((a) => a.startsWith('--inspect'))) return null;
  const id = BUNDLE_ID.exec(source.slice(0, 64))?.[1];
  const base = cacheBaseDir(env, euid);
  if (id === undefined || base === null) return null;
  const cmd = (CACHED_COMMANDS as readonly string[]).includes(command ?? '') ? command : 'other';
  return join(base, 'code-cache', `${id}-${process.version}-${process.arch}-${cmd}.v8`);
}

/** Loads and runs the bundle, with its code cache where there is one; makes the cache where there is none. */
export function runBundle(bundle: string, command: string | undefined, env: NodeJS.ProcessEnv = process.env): void {
  let run: (() => void) | null;
  try {
    run = prepare(bundle, command, env);
  } catch {
    run = null;
  }
  if (run === null) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(bundle);
    return;
  }
  run();
}

/** Everything that may fail for the cache's sake, done before any of the bundle runs. */
function prepare(bundle: string, command: string | undefined, env: NodeJS.ProcessEnv): () => void {
  const source = readFileSync(bundle, 'utf8');
  const file = codeCacheFile(source, command, env, process.geteuid?.() ?? -1);
  let cachedData: Buffer | undefined;
  try {
    if (file !== null) cachedData = readFileSync(file);
  } catch {
    cachedData = undefined;
  }
  // The CommonJS wrapper on the bundle's first line: line numbers in stack traces are the file's.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: bundle, cachedData });
  if (file !== null && (cachedData === undefined || script.cachedDataRejected === true)) process.once('exit', () => save(script, file));
  const fn = script.runInThisContext() as (e: object, r: NodeJS.Require, m: object, f: string, d: string) => void;
  return () => {
    const mod = { exports: {}, id: bundle, filename: bundle, loaded: false };
    fn.call(mod.exports, mod.exports, createRequire(bundle), mod, bundle, dirname(bundle));
    mod.loaded = true;
  };
}

function save(script: Script, file: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
    renameSync(tmp, file);
  } catch {
    try {
      unlinkSync(tmp);
    } catch {
      /* nothing was written */
    }
  }
}
