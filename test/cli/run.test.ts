import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { briefPath, spawnFailureLine } from '../../src/cli/output';
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
      job_id: 'j1', mode: 'run', intent: 'test', exit_code: 3, signal: null,
      // pidfd: the keeper (the workload's parent) reports it; polling: libuv reaped our own child
      exit_source: backend === 'pidfd' ? 'keeper' : 'waitid',
      platform_sla_compliant: true, platform_sla_reason: 'workload_failed_platform_ok',
      keeper: backend === 'pidfd' ? { pid: expect.any(Number) } : { pid: null, why: expect.stringMatching(/^the polling backend starts workloads directly/) },
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

  /** The stderr lines that are not the summary line or the Result JSON. */
  const ours = (stderr: string): string[] => stderr.split('\n').filter((l) => l !== '' && !l.startsWith('JOB ') && !l.startsWith('{'));

  it('a command that does not exist exits 127 and says: not found in PATH (the PATH, briefly)', async () => {
    const r = await ffrtmp(['run', '--json', '--', 'ffrtmp-no-such-command-xyz'], { env: { ...env, PATH: '/usr/local/bin:/usr/bin:/bin' } });
    expect(r.code).toBe(127);
    expect(ours(r.stderr)).toEqual(['ffrtmp: cannot start ffrtmp-no-such-command-xyz: not found in PATH (/usr/local/bin:/usr/bin:/bin)']);
    expect(r.stderr).toMatch(/reason=workload_not_startable \| runtime=0s \| exit=unknown \| pid=unknown/);
    const [res] = parseJsonLines(r.stderr);
    expect(res!.spawn_error).toMatchObject({ code: 'ENOENT', syscall: 'execve' }); // the Result keeps the raw error
  });

  it('a huge PATH is cut short in the message', async () => {
    const PATH = `${Array.from({ length: 200 }, (_, i) => `/opt/tool-${i}/bin`).join(':')}:/usr/bin:/bin`;
    const r = await ffrtmp(['run', '--', 'ffrtmp-no-such-command-xyz'], { env: { ...env, PATH } });
    expect(r.code).toBe(127);
    const [line] = ours(r.stderr);
    expect(line).toMatch(/^ffrtmp: cannot start ffrtmp-no-such-command-xyz: not found in PATH \(\/opt\/tool-0\/bin:\/opt\/tool-1\/bin:.*:… \(202 entries\)\)$/);
    expect(line!.length).toBeLessThan(200);
  });

  it('a path that does not exist exits 127: no such file or directory', async () => {
    const r = await ffrtmp(['run', '--', join(tmp, 'no-such-dir', 'x')], { env });
    expect(r.code).toBe(127);
    expect(ours(r.stderr)).toEqual([`ffrtmp: cannot start ${join(tmp, 'no-such-dir', 'x')}: no such file or directory (ENOENT)`]);
  });

  it('a command that is not executable exits 126: permission denied', async () => {
    const f = join(tmp, `not-exec-${backend}.sh`);
    writeFileSync(f, '#!/bin/sh\necho hi\n');
    chmodSync(f, 0o644);
    const r = await ffrtmp(['run', '--', f], { env });
    expect(r.code).toBe(126);
    expect(ours(r.stderr)).toEqual([`ffrtmp: cannot start ${f}: permission denied (EACCES: not executable, or a directory on its path is not searchable)`]);
  });

  it('a command that is a directory exits 126: is a directory (relative to --workdir)', async () => {
    const r = await ffrtmp(['run', '--workdir', tmp, '--', './'], { env });
    expect(r.code).toBe(126);
    expect(ours(r.stderr)).toEqual(['ffrtmp: cannot start ./: is a directory']);
    const abs = await ffrtmp(['run', '--', tmp], { env });
    expect(abs.code).toBe(126);
    expect(ours(abs.stderr)).toEqual([`ffrtmp: cannot start ${tmp}: is a directory`]);
  });

  it('a script whose #! interpreter is missing exits 127 and says so', async () => {
    const f = join(tmp, `bad-interp-${backend}.sh`);
    writeFileSync(f, '#!/nonexistent/interpreter\n');
    chmodSync(f, 0o755);
    const r = await ffrtmp(['run', '--', f], { env });
    expect(r.code).toBe(127);
    expect(ours(r.stderr)).toEqual([`ffrtmp: cannot start ${f}: exists, but its interpreter (the #! line) or loader was not found (ENOENT)`]);
  });
});

describe('ffrtmp run: a file in no executable format exits 126 (native spawn: execve, no shell retry)', () => {
  it('says: not a program this system can run', async () => {
    const f = join(tmp, 'garbage.bin');
    writeFileSync(f, Buffer.from([0x67, 0x61, 0x72, 0x62, 0x00, 0x01, 0x02]));
    chmodSync(f, 0o755);
    const r = await ffrtmp(['run', '--', f], { env: { FFRTMP_OBSERVER: 'pidfd' } });
    expect(r.code).toBe(126);
    expect(r.stderr).toContain(`ffrtmp: cannot start ${f}: not a program this system can run (ENOEXEC: exec format error)\n`);
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

describe('spawnFailureLine and briefPath (pure)', () => {
  const e = (code: string, syscall: string, path: string | undefined, what: string) => ({
    code, errno: 0, syscall, ...(path !== undefined ? { path } : {}), message: `${code}: ${what}, ${syscall}${path !== undefined ? ` '${path}'` : ''}`,
  });
  const none = { PATH: '/usr/bin:/bin', exists: false, isDirectory: false };

  it('names the PATH candidate the kernel refused when it is not what was typed', () => {
    expect(spawnFailureLine('media', e('EACCES', 'execve', '/usr/local/bin/media', 'permission denied'), { ...none, exists: true, isDirectory: true }))
      .toBe('ffrtmp: cannot start media: /usr/local/bin/media is a directory');
    expect(spawnFailureLine('tool', e('EACCES', 'execve', '/opt/bin/tool', 'permission denied'), { ...none, exists: true }))
      .toBe('ffrtmp: cannot start tool: /opt/bin/tool permission denied (EACCES: not executable, or a directory on its path is not searchable)');
  });

  it('a vanished working directory and a platform failure say their syscall', () => {
    expect(spawnFailureLine('ffmpeg', e('ENOENT', 'chdir', '/srv/gone', 'no such file or directory'), none))
      .toBe('ffrtmp: cannot start ffmpeg: cannot enter its working directory /srv/gone: no such file or directory (ENOENT, chdir)');
    expect(spawnFailureLine('ffmpeg', e('EAGAIN', 'clone3', undefined, 'resource temporarily unavailable'), none))
      .toBe('ffrtmp: cannot start ffmpeg: resource temporarily unavailable (EAGAIN, clone3)');
  });

  it('a long command name is cut short', () => {
    const line = spawnFailureLine('y'.repeat(5000), e('ENOENT', 'execve', `/bin/${'y'.repeat(5000)}`, 'no such file or directory'), none);
    expect(line).toBe(`ffrtmp: cannot start "${'y'.repeat(160)}…" (5000 characters): not found in PATH (/usr/bin:/bin)`);
  });

  it('briefPath: whole when short, else the first entries and the count; unset and empty said so', () => {
    expect(briefPath('/usr/bin:/bin')).toBe('/usr/bin:/bin');
    expect(briefPath(undefined)).toBe('PATH is unset: /bin:/usr/bin');
    expect(briefPath('')).toBe('PATH is empty');
    const long = Array.from({ length: 30 }, (_, i) => `/opt/p${i}/bin`).join(':');
    expect(briefPath(long)).toBe('/opt/p0/bin:/opt/p1/bin:/opt/p2/bin:/opt/p3/bin:/opt/p4/bin:… (30 entries)');
    expect(briefPath(`/${'z'.repeat(300)}`)).toBe(`"/${'z'.repeat(59)}…" (301 characters)`);
    expect(briefPath(`/${'z'.repeat(300)}:/bin`)).toBe(`"/${'z'.repeat(59)}…" (301 characters):… (2 entries)`);
  });
});
