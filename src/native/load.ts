/**
 * The only place that loads the native addon. What it hands out is the wrapped `Native`
 * (src/native/native.ts): nothing outside src/native/ sees the raw binding.
 *
 * Absence is a value, not an exception: `loadNative()` reports `{ available: false, reason }`
 * when there is no usable build (not Linux, no prebuild and no local build, dlopen
 * failure, or `FFRTMP_FORCE_NO_NATIVE=1`), and callers choose their fallback. Importing
 * this module never throws and never loads anything; the first call loads, later calls
 * return the same answer.
 */
import { PACKAGE_ROOT, resolveAddonPath } from './addon-path';
import type { NativeBinding } from './binding';
import { createNative, type Native } from './native';

export type NativeLoadResult =
  | { available: true; native: Native }
  | { available: false; reason: string };

const EXPECTED_FUNCTIONS: ReadonlyArray<keyof NativeBinding> = [
  'pidfdOpen',
  'closeFd',
  'waitidPidfd',
  'pidfdGetExitInfo',
  'spawn',
  'keeperGo',
  'watcherStart',
  'watch',
  'unwatch',
  'watchCount',
  'capabilities',
  'procEventsOpen',
  'procEventsClose',
  'procEventsSetTargets',
  'procEventsStats',
  'getxattr',
];

let cached: NativeLoadResult | undefined;

/** Errors that mean "there is no loadable build here", as opposed to a bug. */
function isNotFound(e: unknown): e is Error {
  if (!(e instanceof Error)) return false;
  const code = (e as NodeJS.ErrnoException).code;
  return (
    code === 'ERR_DLOPEN_FAILED' ||
    code === 'MODULE_NOT_FOUND' ||
    /No native build was found/.test(e.message) ||
    // dlopen failures without a code on some Node versions
    /cannot open shared object|invalid ELF header|undefined symbol|wrong ELF class/.test(e.message)
  );
}

function load(): NativeLoadResult {
  if (process.env.FFRTMP_FORCE_NO_NATIVE === '1') {
    return { available: false, reason: 'disabled by FFRTMP_FORCE_NO_NATIVE' };
  }
  if (process.platform !== 'linux') {
    return { available: false, reason: `the native addon is Linux-only (platform=${process.platform})` };
  }
  let raw: unknown;
  try {
    raw = require(resolveAddonPath());
  } catch (e) {
    if (isNotFound(e)) return { available: false, reason: e.message.trim() };
    throw e;
  }
  const missing = EXPECTED_FUNCTIONS.filter(
    (name) => typeof (raw as Record<string, unknown> | null)?.[name] !== 'function',
  );
  if (missing.length > 0) {
    // A stale build/Release shadowing the current sources: say so instead of failing later.
    return {
      available: false,
      reason: `the native build at ${PACKAGE_ROOT} lacks ${missing.join(', ')} (stale build? run npm run build:native)`,
    };
  }
  return { available: true, native: createNative(raw as NativeBinding) };
}

/**
 * Load the addon once per process (per module instance: each worker thread gets its own
 * addon instance and watcher). Throws only for unexpected errors, never for "no build".
 */
export function loadNative(): NativeLoadResult {
  cached ??= load();
  return cached;
}
