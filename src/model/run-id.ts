import { randomHex } from './random';

/**
 * One run of one job: the id that pairs a job's journal records (`started`, `detached`,
 * `result`) and names its cgroup leaves (`<job id>.<run id>`), so a job id reused by a later run
 * never meets the earlier run's state. 16 lowercase hex digits, made by the core at the start.
 */
export const RUN_ID_PATTERN = /^[0-9a-f]{16}$/;

export function newRunId(): string {
  return randomHex(8);
}
