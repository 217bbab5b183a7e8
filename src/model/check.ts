/**
 * How much a missing piece costs (`ffrtmp doctor`):
 * - `ok`: present;
 * - `warning`: absent, but nothing is lost, only a detail degrades (a fallback does the same job:
 *   clone3 → fork + pidfd_open, CLONE_INTO_CGROUP → the child joins its cgroup before exec, no
 *   PIDFD_INFO_EXIT → an attached process ends with exit=unknown, a documented limitation);
 * - `missing`: a function is lost (no native addon or pidfd_open → exit detection by polling; no
 *   cgroups, a controller, or a usable cgroup root → limits are not applied).
 * `ffrtmp doctor` exits 1 only when something is `missing`.
 */
export type CheckSeverity = 'ok' | 'warning' | 'missing';

/** One capability as `ffrtmp doctor` reports it (the core and the cgroup layer both produce them). */
export interface Check {
  readonly name: string;
  /** `severity === 'ok'` (kept for readers of the JSON written before severities existed). */
  readonly ok: boolean;
  readonly severity: CheckSeverity;
  readonly detail: string;
  /** What the user loses without it (only when !ok). */
  readonly cost?: string;
  readonly fix?: string;
}

/** A check that passed. */
export function passed(name: string, detail: string): Check {
  return { name, ok: true, severity: 'ok', detail };
}

/** A check that did not pass: a `warning` (degraded detail) or `missing` (a function is lost). */
export function failed(name: string, severity: 'warning' | 'missing', detail: string, more: { cost?: string; fix?: string } = {}): Check {
  return { name, ok: false, severity, detail, ...(more.cost !== undefined ? { cost: more.cost } : {}), ...(more.fix !== undefined ? { fix: more.fix } : {}) };
}

/** The worst severity of a set of checks (`ok` when there are none). */
export function worstSeverity(checks: readonly Pick<Check, 'severity'>[]): CheckSeverity {
  if (checks.some((c) => c.severity === 'missing')) return 'missing';
  if (checks.some((c) => c.severity === 'warning')) return 'warning';
  return 'ok';
}
