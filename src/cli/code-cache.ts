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
 * Without a cache directory, or when the cache file cannot be read, the bundle runs the same way,
 * only without cached data: a cache is an optimisation, never a reason not to run.
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

/**
 * Runs the bundle, with its code cache where there is one; makes the cache where there is none.
 * The bundle is a function expression with CommonJS's parameters (scripts/bundle-cli.js writes it
 * so), compiled as it is: no wrapper is concatenated around its ~400 KB, which would copy it once
 * more into the young generation and bring a scavenge (~5 ms) into every start on Node 22/24.
 */
export function runBundle(bundle: string, command: string | undefined, env: NodeJS.ProcessEnv = process.env): void {
  const source = readFileSync(bundle, 'utf8');
  let file: string | null = null;
  let cachedData: Buffer | undefined;
  try {
    file = codeCacheFile(source, command, env, process.geteuid?.() ?? -1);
    if (file !== null) cachedData = readFileSync(file);
  } catch {
    cachedData = undefined; // none yet (ENOENT) or unreadable: made at exit, if there is a directory
  }
  const script = new Script(source, { filename: bundle, cachedData });
  if (file !== null && (cachedData === undefined || script.cachedDataRejected === true)) {
    const target = file;
    process.once('exit', () => save(script, target));
  }
  const fn = script.runInThisContext() as (e: object, r: NodeJS.Require, m: object, f: string, d: string) => void;
  const mod = { exports: {}, id: bundle, filename: bundle, loaded: false };
  fn.call(mod.exports, mod.exports, createRequire(bundle), mod, bundle, dirname(bundle));
  mod.loaded = true;
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
