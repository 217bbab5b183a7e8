/**
 * Where the addon file is. node-gyp-build decides, except in the two layouts ffrtmp itself
 * produces, which are found here with one or two `stat`s and without loading node-gyp-build
 * (its load and its directory scans were ~4 ms of every CLI start: docs/benchmarks.md):
 *
 *  - a local build, `build/Release/ffrtmp.node` (node-gyp-build's first choice too);
 *  - with no `build/` at all, the glibc prebuild of this arch, `prebuilds/linux-<arch>/ffrtmp.glibc.node`
 *    (what node-gyp-build picks there: its tags match any Node on glibc).
 *
 * Anything else (a Debug build, musl, the environment variables node-gyp-build honours, no file
 * where expected) is left to node-gyp-build, so the answer never differs from its own.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Package root: `src/native/` in dev, `dist/native/` when built, `dist/cli/` in the CLI bundle. */
export const PACKAGE_ROOT = join(__dirname, '..', '..');

const NODE_GYP_BUILD_ENV = ['FFRTMP_PREBUILD', 'PREBUILDS_ONLY', 'LIBC', 'npm_config_arch', 'npm_config_platform', 'ARM_VERSION'];

let found: { key: string; path: string } | undefined;

/**
 * The addon's path; throws node-gyp-build's error ("No native build was found ...") when there is
 * none. Looked up once per root and environment: the loader (load.ts) and the keeper's locator
 * (keeper-path.ts) both ask, on every `run`.
 */
export function resolveAddonPath(root: string = PACKAGE_ROOT): string {
  const key = JSON.stringify([root, ...NODE_GYP_BUILD_ENV.map((k) => process.env[k] ?? null)]);
  if (found?.key === key) return found.path;
  const path = ownLayout(root) ?? (require('node-gyp-build') as { resolve(dir: string): string }).resolve(root);
  found = { key, path };
  return path;
}

function ownLayout(root: string): string | undefined {
  if (process.platform !== 'linux' || NODE_GYP_BUILD_ENV.some((k) => process.env[k] !== undefined)) return undefined;
  const release = join(root, 'build', 'Release', 'ffrtmp.node');
  if (existsSync(release)) return release;
  if (existsSync(join(root, 'build')) || existsSync('/etc/alpine-release')) return undefined;
  const prebuild = join(root, 'prebuilds', `linux-${process.arch}`, 'ffrtmp.glibc.node');
  return existsSync(prebuild) ? prebuild : undefined;
}
