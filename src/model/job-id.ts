import { randomHex } from './random';
import { UsageError } from './errors';
import { quote } from './quote';

/**
 * Job ids name files and cgroup directories, appear in log lines that humans grep, and in
 * Prometheus-adjacent JSON. So they are restricted to a boring, path-safe alphabet:
 * letters, digits, `.`, `_`, `-`, `:`, `@`, `+`, 1..128 characters, not `.` or `..`, not starting
 * with `.` or `-` (a leading dash looks like a flag, a leading dot hides the cgroup directory).
 */
export const JOB_ID_MAX_LENGTH = 128;
const JOB_ID_PATTERN = /^[A-Za-z0-9_:@+][A-Za-z0-9._:@+-]*$/;

/** Returns the id unchanged, or throws UsageError saying exactly what is wrong. */
export function validateJobId(id: string): string {
  if (id.length === 0) throw new UsageError('job id must not be empty');
  if (id.length > JOB_ID_MAX_LENGTH) {
    throw new UsageError(`job id is ${id.length} characters long; the limit is ${JOB_ID_MAX_LENGTH}`);
  }
  if (!JOB_ID_PATTERN.test(id)) {
    throw new UsageError(
      `job id ${quote(id)} is not allowed: use letters, digits and . _ - : @ + ` +
        `(no slashes, spaces or control characters; not starting with . or -)`,
    );
  }
  return id;
}

/** A fresh id for a job started without --job-id: `<mode>-<utc yyyymmddThhmmss>-<6 hex>`. */
export function generateJobId(mode: 'run' | 'attach', now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${mode}-${stamp}-${randomHex(3)}`;
}
