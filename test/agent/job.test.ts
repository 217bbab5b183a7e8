/**
 * The queue job model: every bad field is refused with one line that names it first; good data
 * becomes canonical limits (the same as the CLI's flags would give).
 */
import { describe, expect, it } from 'vitest';
import { agentEnvironment, JobDataError, parseJobData } from '../../src/agent/job';
import { failureReason, outcomeFromLogs, resultLogLine, succeeded } from '../../src/agent/outcome';
import { jobDataOf } from '../../src/agent/execute';
import { parseLimits } from '../../src/cgroup/limits';

const ok = { id: 'cam-7', command: 'ffmpeg', args: ['-i', 'in'] };

function refused(data: unknown): string {
  try {
    parseJobData(data);
  } catch (err) {
    expect(err).toBeInstanceOf(JobDataError);
    expect((err as Error).message).not.toContain('\n');
    return (err as Error).message;
  }
  throw new Error(`accepted: ${JSON.stringify(data)}`);
}

describe('job data: refused, naming the field', () => {
  it.each([
    [{ id: 'a' }, /^command: required/],
    [{ command: 'x' }, /^id: required/],
    [{ ...ok, id: 'has space' }, /^id: job id "has space" is not allowed/],
    [{ ...ok, id: '-flag' }, /^id: /],
    [{ ...ok, id: 7 }, /^id: expected a string; got 7/],
    [{ ...ok, command: '' }, /^command: must not be empty/],
    [{ ...ok, command: ['ffmpeg'] }, /^command: expected a string; got an array/],
    [{ ...ok, args: 'a b' }, /^args: expected an array of strings/],
    [{ ...ok, args: ['ok', 3] }, /^args\[1\]: expected a string; got 3/],
    [{ ...ok, args: ['a\0b'] }, /^args\[0\]: must not contain NUL/],
    [{ ...ok, intent: 'prod uction' }, /^intent: /],
    [{ ...ok, workdir: '' }, /^workdir: must not be empty/],
    [{ ...ok, env: { A: 1 } }, /^env\.A: expected a string; got 1/],
    [{ ...ok, env: ['A=1'] }, /^env: expected an object/],
    [{ ...ok, wrapper_enabled: 'yes' }, /^wrapper_enabled: expected true or false; got "yes"/],
    [{ ...ok, wrapper_constraints: { memory_max_mb: 'lots' } }, /^wrapper_constraints\.memory_max_mb: expected a whole number of MiB \(1 to \d+\); got "lots"/],
    [{ ...ok, wrapper_constraints: { memory_max_mb: 1.5 } }, /^wrapper_constraints\.memory_max_mb: expected a whole number/],
    [{ ...ok, wrapper_constraints: { memory_max_mb: 0 } }, /^wrapper_constraints\.memory_max_mb: /],
    [{ ...ok, wrapper_constraints: { cpu_max: 'half' } }, /^wrapper_constraints\.cpu_max: expects "<quota\|max> <period>"/],
    [{ ...ok, wrapper_constraints: { cpu_max: 50000 } }, /^wrapper_constraints\.cpu_max: expected a string like "50000 100000"/],
    [{ ...ok, wrapper_constraints: { cpu_weight: 0 } }, /^wrapper_constraints\.cpu_weight: expected a whole number of weight \(1 to 10000\); got 0/],
    [{ ...ok, wrapper_constraints: { io_max: '999:999 wbps=1' } }, /^wrapper_constraints\.io_max: 999:999 is not a block device/],
    [{ ...ok, wrapper_constraints: { io_max: [] } }, /^wrapper_constraints\.io_max: an empty array/],
    [{ ...ok, wrapper_constraints: { memory: 5 } }, /^wrapper_constraints\.memory: unknown field \(known here: cpu_max, cpu_weight, memory_max_mb, io_max\)/],
    [{ ...ok, wrapper_constraints: 'none' }, /^wrapper_constraints: expected an object; got "none"/],
    [{ ...ok, parameters: { resource_limits: { max_cpu_percent: -5 } } }, /^parameters\.resource_limits\.max_cpu_percent: expected a percent/],
    [{ ...ok, parameters: { resource_limits: { max_memory_mb: '1G' } } }, /^parameters\.resource_limits\.max_memory_mb: expected a whole number of MiB/],
    [{ ...ok, parameters: { bitrate: '5M' } }, /^parameters\.bitrate: unknown field/],
    [{ ...ok, engine: 'ffmpeg' }, /^engine: unknown field \(known here: id, command, args/],
    [{ ...ok, scenario: '4K60' }, /^scenario: unknown field/],
    ['a string', /^\(job data\): expected a JSON object; got "a string"/],
    [null, /^\(job data\): expected a JSON object; got null/],
  ])('%j', (data, message) => {
    expect(refused(data)).toMatch(message);
  });

  it('the field is on the error too, for programs', () => {
    try {
      parseJobData({ ...ok, wrapper_constraints: { memory_max_mb: 'lots' } });
    } catch (err) {
      expect((err as JobDataError).field).toBe('wrapper_constraints.memory_max_mb');
    }
  });
});

describe('job data: accepted', () => {
  it('defaults: legacy path, no limits, no args', () => {
    expect(parseJobData({ id: 'a', command: 'true' })).toEqual({ id: 'a', command: 'true', args: [], wrapper_enabled: false, limits_from: null });
  });

  it('wrapper_constraints become the limits the CLI flags would give', () => {
    const j = parseJobData({ ...ok, wrapper_enabled: true, wrapper_constraints: { cpu_max: '50000 100000', cpu_weight: 200, memory_max_mb: 512 } });
    expect(j.wrapper_enabled).toBe(true);
    expect(j.limits_from).toBe('wrapper_constraints');
    expect(j.limits).toEqual(parseLimits({ cpuMax: '50000 100000', cpuWeight: '200', memoryMax: '512M' }));
  });

  it("the original's fallback: max_cpu_percent 150 is \"150000 100000\", max_memory_mb is MiB; wrapper_constraints win over it", () => {
    const j = parseJobData({ ...ok, parameters: { resource_limits: { max_cpu_percent: 150, max_memory_mb: 1024 } } });
    expect(j.limits_from).toBe('parameters.resource_limits');
    expect(j.limits).toEqual({ cpuMax: { quotaUs: 150_000, periodUs: 100_000, from: 'cpu-quota' }, memoryMax: 1024 ** 3 });
    const both = parseJobData({ ...ok, wrapper_constraints: { cpu_weight: 50 }, parameters: { resource_limits: { max_memory_mb: 1024 } } });
    expect(both.limits).toEqual({ cpuWeight: 50 });
    expect(both.limits_from).toBe('wrapper_constraints');
  });

  it("a BullMQ Job's data is read from .data; the data itself is taken as is", () => {
    expect(jobDataOf({ id: '1', name: 'ffrtmp', data: ok })).toBe(ok);
    expect(jobDataOf(ok)).toBe(ok);
  });

  it("the workload's environment: the agent's, minus its settings (REDIS_URL may hold a password), with the job's env over it", () => {
    const env = agentEnvironment({ env: { A: 'job', B: 'b' } }, { A: 'agent', PATH: '/bin', REDIS_URL: 'redis://:secret@h', WORKER_ID: 'n1' });
    expect(env).toEqual({ A: 'job', B: 'b', PATH: '/bin' });
  });
});

describe('outcomes told to the queue', () => {
  const legacy = { path: 'legacy' as const, job_id: 'a', pid: 4, start_time: 't', end_time: 't', processing_seconds: 1.2, exit_code: 3, signal: null, exit_source: 'child_process' as const };
  it('exit 0 completes, anything else fails with the line as its reason; the outcome round-trips through a log line', () => {
    expect(succeeded({ ...legacy, exit_code: 0 })).toBe(true);
    expect(succeeded(legacy)).toBe(false);
    expect(succeeded({ ...legacy, exit_code: null, signal: 'SIGKILL' })).toBe(false);
    expect(failureReason(legacy)).toBe('the workload exited 3: JOB a | path=legacy | runtime=1s | exit=3 | pid=4');
    expect(failureReason({ ...legacy, exit_code: null, signal: 'SIGKILL' })).toMatch(/^the workload was killed by SIGKILL: /);
    expect(outcomeFromLogs(['other', resultLogLine(legacy)])).toEqual(legacy);
    expect(outcomeFromLogs(['other'])).toBeNull();
  });
});
