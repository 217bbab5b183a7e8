/**
 * Node's on-disk compile cache for the CLI (`module.enableCompileCache()`, Node 22.1+; a no-op on
 * older Nodes): the V8 code of every module we load is kept between runs, so a start compiles
 * nothing that has not changed. docs/benchmarks.md ("Start-up") has what it saves.
 *
 * Where: `$XDG_CACHE_HOME/ffrtmp/compile-cache`, else `$HOME/.cache/ffrtmp/compile-cache`: the
 * user's own cache directory, never a shared one. Node's default (`<tmpdir>/node-compile-cache`)
 * is a fixed name in a world-writable directory: another user could create it first and hand code
 * cache to a root `ffrtmp`. So the base directory (XDG_CACHE_HOME or HOME) is used only when it is
 * an absolute path to a directory owned by the effective user; otherwise (no HOME, as under a
 * systemd service without `User=`; `sudo` keeping the caller's HOME) there is no cache, and
 * nothing else changes. The entries are Node's own (per Node version, checked against each file's
 * content); deleting the directory at any time is harmless.
 *
 * Node's own switches win: `NODE_COMPILE_CACHE=dir` (Node has then enabled it itself, there) and
 * `NODE_DISABLE_COMPILE_CACHE=1` (no cache).
 */
import { statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';

interface ModuleWithCache {
  enableCompileCache?: (dir?: string) => { status: number; message?: string; directory?: string };
  getCompileCacheDir?: () => string | undefined;
}

/**
 * `$XDG_CACHE_HOME/ffrtmp` or `$HOME/.cache/ffrtmp` for `env`, or null when neither is safe to use
 * (see above). Pure but for one stat. src/cli/code-cache.ts keeps its files there too.
 */
export function cacheBaseDir(env: NodeJS.ProcessEnv, euid: number): string | null {
  const xdg = env.XDG_CACHE_HOME;
  const base = xdg !== undefined && isAbsolute(xdg) ? xdg : env.HOME !== undefined && isAbsolute(env.HOME) ? env.HOME : null;
  if (base === null) return null;
  try {
    const st = statSync(base);
    if (!st.isDirectory() || st.uid !== euid) return null;
  } catch {
    return null;
  }
  return base === xdg ? join(base, 'ffrtmp') : join(base, '.cache', 'ffrtmp');
}

/** Node's compile cache directory for `env`, or null when none is safe to use. */
export function compileCacheDir(env: NodeJS.ProcessEnv, euid: number): string | null {
  const base = cacheBaseDir(env, euid);
  return base === null ? null : join(base, 'compile-cache');
}

/** Turns the cache on where this Node has one and a safe directory exists. Never throws. */
export function enableCompileCache(env: NodeJS.ProcessEnv = process.env): void {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require('node:module') as ModuleWithCache;
    if (typeof mod.enableCompileCache !== 'function') return; // Node < 22.1
    if (env.NODE_DISABLE_COMPILE_CACHE !== undefined && env.NODE_DISABLE_COMPILE_CACHE !== '') return;
    if (mod.getCompileCacheDir?.() !== undefined) return; // NODE_COMPILE_CACHE: Node did it already
    const dir = compileCacheDir(env, process.geteuid?.() ?? -1);
    if (dir !== null) mod.enableCompileCache(dir);
  } catch {
    /* a cache is an optimisation: never a reason not to run */
  }
}
