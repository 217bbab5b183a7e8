/** Write one interface file, read it back, and turn the outcome into a report entry. */
import * as path from 'node:path';
import { errMessage, errnoCode, readTextOrNull, writeOnce } from './fsutil';
import type { LimitName, LimitReportEntry } from '../model/cgroup-report';

/** What an errno means when writing a limit file (kernel behaviour, see docs/cgroups.md). */
export function explainWriteErrno(code: string, file: string): string {
  const base = path.basename(file);
  switch (code) {
    case 'ENOENT':
      return `ENOENT: ${base} does not exist: the controller is not enabled for this cgroup`;
    case 'EACCES':
    case 'EPERM':
      return `${code}: not allowed to write ${base}`;
    case 'EROFS':
      return `EROFS: the cgroup filesystem is mounted read-only`;
    case 'EINVAL':
      return `EINVAL: the kernel refused the value for ${base} (e.g. a child quota above its parent's)`;
    case 'EBUSY':
      return `EBUSY: the kernel refused ${base} while it is in use (e.g. a memory limit below current usage)`;
    case 'ENODEV':
      return `ENODEV: no such device for ${base} (or the cgroup is being removed)`;
    default:
      return `${code}: writing ${base} failed`;
  }
}

/**
 * Compares what the kernel reports with what was asked. Returns the effective value (for
 * the report) and whether it counts as applied.
 */
export type ReadBack = (text: string) => { effective: string; ok: boolean; why?: string };

export function writeVerified(
  limit: LimitName,
  file: string,
  value: string,
  readBack: ReadBack,
  extra: { converted_from?: string } = {},
): LimitReportEntry {
  const conv = extra.converted_from !== undefined ? { converted_from: extra.converted_from } : {};
  try {
    writeOnce(file, value);
  } catch (e) {
    const code = errnoCode(e);
    return { limit, file, requested: value, effective: safeRead(file), applied: false, error: code === 'EUNKNOWN' ? errMessage(e) : explainWriteErrno(code, file), ...conv };
  }
  let text: string | null;
  try {
    text = readTextOrNull(file);
  } catch (e) {
    return { limit, file, requested: value, effective: null, applied: false, error: `written, but reading it back failed: ${errMessage(e)}`, ...conv };
  }
  if (text === null) return { limit, file, requested: value, effective: null, applied: false, error: 'written, but the file vanished before read-back', ...conv };
  const rb = readBack(text);
  if (rb.ok) return { limit, file, requested: value, effective: rb.effective, applied: true, ...conv };
  return { limit, file, requested: value, effective: rb.effective, applied: false, error: rb.why ?? `the kernel reports ${JSON.stringify(rb.effective)}, not the requested value`, ...conv };
}

function safeRead(file: string): string | null {
  try {
    const t = readTextOrNull(file);
    return t === null ? null : t.trim();
  } catch {
    return null;
  }
}

/** An entry for a limit we did not even try to write (no cgroup, refused, ...). */
export function notApplied(limit: LimitName, file: string, requested: string, error: string, extra: { converted_from?: string } = {}): LimitReportEntry {
  return { limit, file, requested, effective: null, applied: false, error, ...(extra.converted_from !== undefined ? { converted_from: extra.converted_from } : {}) };
}

/** Exact match after trimming. */
export const exact = (want: string): ReadBack => (text) => {
  const got = text.trim();
  return { effective: got, ok: got === want };
};

/**
 * Memory limits are rounded DOWN to a whole page by the kernel (page_counter_memparse).
 * `max` / v1's "no limit" read back as `max` / a huge number (PAGE_COUNTER_MAX pages).
 */
export const memoryBytes = (want: number | 'max', pageSize: number): ReadBack => (text) => {
  const got = text.trim();
  if (want === 'max') {
    const unlimited = got === 'max' || (/^\d+$/.test(got) && BigInt(got) >= 2n ** 62n);
    return { effective: got, ok: unlimited };
  }
  if (!/^\d+$/.test(got)) return { effective: got, ok: false };
  const expected = BigInt(Math.floor(want / pageSize) * pageSize);
  const g = BigInt(got);
  if (g === expected) return { effective: got, ok: true };
  // Another page size than we think: accept any rounding down by less than 64 KiB.
  const ok = g <= BigInt(want) && BigInt(want) - g < 65536n;
  return { effective: got, ok, why: ok ? undefined : `the kernel reports ${got} bytes for a request of ${want}` };
};
