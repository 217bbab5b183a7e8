/**
 * Where `ffrtmp-keeper` (native/keeper.c) is: beside the addon that was loaded (node-gyp builds
 * both into build/Release; a prebuild ships both in prebuilds/<platform>-<arch>/), or where
 * `FFRTMP_KEEPER` (an absolute path) says.
 *
 * Absence is a value with a reason, never an exception: a missing keeper never stops a job (the
 * workload is then started directly, and its Result says why).
 */
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';

import { resolveAddonPath } from './addon-path';
import { KEEPER_NAME, KEEPER_PROTOCOL } from './keeper-protocol';

export const KEEPER_ENV = 'FFRTMP_KEEPER';

export type KeeperLocation = { readonly available: true; readonly path: string } | { readonly available: false; readonly why: string };

let cached: { key: string; location: KeeperLocation } | undefined;

function check(path: string, from: string): KeeperLocation {
  try {
    if (!statSync(path).isFile()) return { available: false, why: `${from} ${path} is not a file` };
    accessSync(path, constants.X_OK);
    return { available: true, path };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { available: false, why: `${from} ${path} ${code === 'ENOENT' ? 'does not exist' : `cannot be executed (${code ?? (e as Error).message})`}` };
  }
}

function locate(fromEnv: string | undefined): KeeperLocation {
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!isAbsolute(fromEnv)) return { available: false, why: `${KEEPER_ENV}=${fromEnv} is not an absolute path` };
    return check(fromEnv, `${KEEPER_ENV}:`);
  }
  if (process.platform !== 'linux') return { available: false, why: `the keeper is Linux-only (platform=${process.platform})` };
  let addon: string;
  try {
    addon = resolveAddonPath();
  } catch (e) {
    return { available: false, why: `no native build, so no keeper: ${(e as Error).message.split('\n')[0]}` };
  }
  return check(join(dirname(addon), KEEPER_NAME), 'the keeper');
}

/**
 * The keeper binary, looked up once per value of `FFRTMP_KEEPER` (tests point it elsewhere).
 * Whether it really runs is only known by running it: `ffrtmp doctor` does, and a spawn whose
 * keeper cannot be executed falls back to the direct child.
 */
export function locateKeeper(env: NodeJS.ProcessEnv = process.env): KeeperLocation {
  const key = env[KEEPER_ENV] ?? '';
  if (cached?.key !== key) cached = { key, location: locate(env[KEEPER_ENV]) };
  return cached.location;
}

/**
 * Runs `<keeper> --version` (the only way to know a binary really runs here: the right
 * architecture, not truncated) and checks that it speaks our protocol. For `ffrtmp doctor`.
 */
export function probeKeeper(path: string): { readonly ok: true } | { readonly ok: false; readonly why: string } {
  // Loaded here, not at the top: only `ffrtmp doctor` runs the keeper this way (start-up cost).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  const r = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.error) return { ok: false, why: `${path} could not be run: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message}` };
  const expected = `${KEEPER_NAME} protocol ${KEEPER_PROTOCOL}`;
  if (r.status !== 0 || r.stderr.trim() !== expected) {
    return { ok: false, why: `${path} --version said ${JSON.stringify(r.stderr.trim())} (exit ${r.status ?? r.signal}), not ${JSON.stringify(expected)}` };
  }
  return { ok: true };
}
