/**
 * Where the journal lives: `--state-dir` resolution.
 *
 * Order (first that applies wins):
 *   1. the explicit `--state-dir` value (resolved against the current directory);
 *   2. `$FFRTMP_STATE_DIR` (non-empty; resolved against the current directory);
 *   3. `/var/lib/ffrtmp` when running as root (uid 0);
 *   4. `$XDG_STATE_HOME/ffrtmp` when XDG_STATE_HOME is set to an absolute path (the XDG base
 *      directory spec says relative values are invalid and must be ignored);
 *   5. `~/.local/state/ffrtmp`.
 *
 * Pure: everything it reads can be passed in, so tests need no environment juggling.
 */
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT_STATE_DIR = '/var/lib/ffrtmp';
export const STATE_DIR_ENV = 'FFRTMP_STATE_DIR';

export interface StateDirInputs {
  /** The `--state-dir` flag value, if given. */
  explicit?: string;
  env?: NodeJS.ProcessEnv;
  /** Effective uid; defaults to process.geteuid(). */
  uid?: number;
  /** Home directory; defaults to os.homedir(). */
  home?: string;
  /** Base for relative paths; defaults to process.cwd(). */
  cwd?: string;
}

export type StateDirSource = 'flag' | 'env' | 'root-default' | 'xdg' | 'home';

export interface ResolvedStateDir {
  readonly dir: string;
  /** Which rule chose it (for `serve`'s /health and for error messages). */
  readonly source: StateDirSource;
}

export function resolveStateDir(inputs: StateDirInputs = {}): ResolvedStateDir {
  const env = inputs.env ?? process.env;
  const cwd = inputs.cwd ?? process.cwd();
  if (inputs.explicit !== undefined && inputs.explicit !== '') {
    return { dir: path.resolve(cwd, inputs.explicit), source: 'flag' };
  }
  const fromEnv = env[STATE_DIR_ENV];
  if (fromEnv !== undefined && fromEnv !== '') {
    return { dir: path.resolve(cwd, fromEnv), source: 'env' };
  }
  const uid = inputs.uid ?? (typeof process.geteuid === 'function' ? process.geteuid() : -1);
  if (uid === 0) return { dir: ROOT_STATE_DIR, source: 'root-default' };
  const xdg = env.XDG_STATE_HOME;
  if (xdg !== undefined && path.isAbsolute(xdg)) {
    return { dir: path.join(xdg, 'ffrtmp'), source: 'xdg' };
  }
  const home = inputs.home ?? env.HOME ?? os.homedir();
  return { dir: path.join(home, '.local', 'state', 'ffrtmp'), source: 'home' };
}
