import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { loadNative } from '../../src/native/load';
import { exited, ffrtmp, summaries, summary, killQuietly, parseJsonLines, startFfrtmp, waitStarted, type CliRun } from '../helpers';

const caps = (() => {
  const n = loadNative();
  return n.available ? n.native.capabilities() : undefined;
})();

/** A process that is not the wrapper's child (the test's own, reaped by libuv here). */
function target(script: string): { pid: number; done: Promise<unknown> } {
  const child = spawn('sh', ['-c', script], { stdio: 'ignore' });
  return { pid: child.pid as number, done: exited(child) };
}

/** A target that runs `script` only once released (after the wrapper has attached it). */
function gatedTarget(script: string): { pid: number; go(): void; done: Promise<unknown> } {
  const child = spawn('sh', ['-c', `read go; ${script}`], { stdio: ['pipe', 'ignore', 'ignore'] });
  return { pid: child.pid as number, go: () => child.stdin!.end('go\n'), done: exited(child) };
}

/** `ffrtmp attach` on gated targets: releases them once every one is attached, waits for the wrapper. */
async function attachGated(ts: ReturnType<typeof gatedTarget>[], args: string[], env?: NodeJS.ProcessEnv): Promise<CliRun> {
  const wrapper = startFfrtmp(['attach', ...ts.flatMap((t) => ['--pid', String(t.pid)]), ...args], env);
  for (const t of ts) await waitStarted(t.pid);
  for (const t of ts) t.go();
  const { code, signal } = await exited(wrapper);
  return { code, signal, ...wrapper.output() };
}

describe('ffrtmp attach', () => {
  it('a non-child that exits 7 reports exit_code 7 from pidfd_info (Linux 6.15+)', async () => {
    const t = gatedTarget('sleep 0.2; exit 7');
    const r = await attachGated([t], ['--job-id', 'seven', '--json']);
    expect(r.code).toBe(0);
    const [res] = parseJsonLines(r.stdout);
    if (!caps?.pidfdInfoExit) {
      console.warn(`SKIPPED exit-status half: kernel ${caps?.kernelRelease ?? '?'} lacks PIDFD_INFO_EXIT`);
      expect(res).toMatchObject({ exit_code: null, exit_source: 'unknown' });
      return;
    }
    expect(res).toMatchObject({
      job_id: 'seven', pid: t.pid, mode: 'attach', exit_code: 7, signal: null, exit_source: 'pidfd_info',
      platform_sla_compliant: true, platform_sla_reason: 'observed_to_completion',
    });
    expect(summary(r.stderr)).toMatchObject({ job: 'seven', reason: 'observed_to_completion', exit: '7' });
  });

  it('many PIDs in one process: one line per PID as each exits, in exit order', async () => {
    const ts = [gatedTarget('sleep 1; exit 3'), gatedTarget('exit 1'), gatedTarget('sleep 0.5; exit 0')];
    const r = await attachGated(ts, ['--json']);
    expect(r.code).toBe(0);
    const results = parseJsonLines(r.stdout);
    expect(results.map((x) => x.pid)).toEqual([ts[1]!.pid, ts[2]!.pid, ts[0]!.pid]);
    expect(summaries(r.stderr)).toHaveLength(3);
    expect(new Set(results.map((x) => x.job_id)).size).toBe(3);
  });

  it('the polling fallback observes too, with the exit unknown', async () => {
    const t = gatedTarget('sleep 0.2; exit 7');
    const r = await attachGated([t], ['--json'], { FFRTMP_OBSERVER: 'polling' });
    expect(r.code).toBe(0);
    expect(parseJsonLines(r.stdout)[0]).toMatchObject({ exit_code: null, exit_source: 'unknown', platform_sla_reason: 'observed_to_completion' });
    expect(r.stderr).toMatch(/exit=unknown/);
  });

  it('a PID that does not exist: clear error, exit 1, nothing attached', async () => {
    const gone = target('exit 0');
    await gone.done;
    const alive = target('sleep 2');
    try {
      const r = await ffrtmp(['attach', '--pid', String(alive.pid), '--pid', String(gone.pid)]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`process ${gone.pid} does not exist`);
      expect(r.stderr).not.toMatch(/^JOB /m);
    } finally {
      killQuietly(alive.pid);
    }
  });

  it.each([
    ['pid 0', ['--pid', '0'], /invalid pid 0/],
    ['pid -1', ['--pid=-1'], /"-1" is not a process id/],
    ['text', ['--pid', 'abc'], /"abc" is not a process id/],
    ['a huge number', ['--pid', '99999999999999999999'], /invalid pid/],
    ['no pid', [], /required option '--pid <pid>' not specified/],
    ['the same pid twice', ['--pid', '1', '--pid', '1'], /given twice/],
    ['fewer job ids than pids', ['--pid', '1', '--pid', '2', '--job-id', 'a'], /one --job-id per --pid/],
    ['empty job id', ['--pid', '1', '--job-id', ''], /job id must not be empty/],
  ])('bad input (%s) is a usage error: exit 2', async (_n, args, message) => {
    const r = await ffrtmp(['attach', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});
