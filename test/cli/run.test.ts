import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ffrtmp, parseJsonLines, summary } from '../helpers';

const tmp = mkdtempSync(join(tmpdir(), 'ffrtmp-cli-run-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.each([['pidfd'], ['polling']])('ffrtmp run (%s backend)', (backend) => {
  const env = { FFRTMP_OBSERVER: backend };

  it.each([
    [0, 'completed_successfully'],
    [1, 'workload_failed_platform_ok'],
    [42, 'workload_failed_platform_ok'],
  ])('mirrors exit %i and prints the summary line on stderr', async (code, reason) => {
    const r = await ffrtmp(['run', '--job-id', `exit-${code}`, '--', 'sh', '-c', `echo out; exit ${code}`], { env });
    expect(r.code).toBe(code);
    expect(r.stdout).toBe('out\n'); // the workload owns stdout; nothing of ours is there
    expect(summary(r.stderr)).toMatchObject({ job: `exit-${code}`, sla: 'COMPLIANT', reason, exit: String(code) });
  });

  it('a workload killed by a signal exits 128+n and says exit=SIGKILL', async () => {
    const r = await ffrtmp(['run', '--', 'sh', '-c', 'kill -KILL $$'], { env });
    expect(r.code).toBe(137);
    expect(summary(r.stderr).exit).toBe('SIGKILL');
  });

  it('--json adds the Result as one JSON line on stderr, never on stdout', async () => {
    const r = await ffrtmp(['run', '--json', '--intent', 'test', '--job-id', 'j1', '--', 'sh', '-c', 'echo data; exit 3'], { env });
    expect(r.stdout).toBe('data\n');
    const [res] = parseJsonLines(r.stderr);
    expect(res).toMatchObject({
      job_id: 'j1', mode: 'run', intent: 'test', exit_code: 3, signal: null, exit_source: 'waitid',
      platform_sla_compliant: true, platform_sla_reason: 'workload_failed_platform_ok',
    });
    expect(res!.start_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(res!.end_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(typeof res!.processing_seconds).toBe('number');
    expect(res!.processing_seconds).toBeLessThan(10);
    expect(Object.isFrozen(res)).toBe(false); // parsed copy; the frozen one is tested in core
    expect(r.stderr).toMatch(/^JOB j1 \| intent=test \| sla=COMPLIANT/m);
  });

  it('--result-file writes the Result atomically', async () => {
    const file = join(tmp, `result-${backend}.json`);
    const r = await ffrtmp(['run', '--result-file', file, '--job-id', 'rf', '--', 'true'], { env });
    expect(r.code).toBe(0);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ job_id: 'rf', exit_code: 0, pid: expect.any(Number) });
  });

  it('--workdir is applied', async () => {
    const r = await ffrtmp(['run', '--workdir', tmp, '--', 'pwd'], { env });
    expect(r.stdout.trim()).toBe(tmp);
  });

  it('a command that does not exist exits 127 and says why', async () => {
    const r = await ffrtmp(['run', '--', 'ffrtmp-no-such-command-xyz'], { env });
    expect(r.code).toBe(127);
    expect(r.stderr).toMatch(/ENOENT: no such file or directory/);
    expect(r.stderr).toMatch(/reason=workload_not_startable \| runtime=0s \| exit=unknown \| pid=unknown/);
  });

  it('a command that is not executable exits 126', async () => {
    const f = join(tmp, `not-exec-${backend}.sh`);
    writeFileSync(f, '#!/bin/sh\necho hi\n');
    chmodSync(f, 0o644);
    const r = await ffrtmp(['run', '--', f], { env });
    expect(r.code).toBe(126);
    expect(r.stderr).toMatch(/EACCES/);
  });
});

describe('ffrtmp run: bad input is a usage error (exit 2), nothing started', () => {
  const marker = join(tmp, 'must-not-exist');
  it.each([
    ['missing --', ['run', 'touch', marker], /put -- before the workload/],
    ['no command', ['run', '--'], /no command given/],
    ['empty job id', ['run', '--job-id', '', '--', 'touch', marker], /job id must not be empty/],
    ['job id with a slash', ['run', '--job-id', 'a/b', '--', 'touch', marker], /job id "a\/b" is not allowed/],
    ['job id ..', ['run', '--job-id', '..', '--', 'touch', marker], /is not allowed/],
    ['job id too long', ['run', '--job-id', 'x'.repeat(129), '--', 'touch', marker], /limit is 128/],
    ['intent with a pipe', ['run', '--intent', 'a|b', '--', 'touch', marker], /intent "a\|b" is not allowed/],
    ['workdir missing', ['run', '--workdir', '/nonexistent-dir-xyz', '--', 'touch', marker], /--workdir \/nonexistent-dir-xyz/],
    ['unknown option', ['run', '--frobnicate', '--', 'touch', marker], /unknown option/],
    ['result file in a missing dir', ['run', '--result-file', '/nonexistent-dir-xyz/r.json', '--', 'touch', marker], /--result-file/],
  ])('%s', async (_name, args, message) => {
    const r = await ffrtmp(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(() => readFileSync(marker)).toThrow();
  });
});
