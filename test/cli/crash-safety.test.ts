import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { readJournal } from '../../src/journal/reader';
import { catches, summary, workloadNamed, keeperOf, exited, isAlive, killQuietly, recoverJobs, sessionOf, startFfrtmp, TEST_STATE_DIR, waitFor } from '../helpers';

/** The records of one job in the test journal, by type. */
function recordsOf(jobId: string): string[] {
  return readJournal(TEST_STATE_DIR).records.filter((r) => r.job_id === jobId).map((r) => r.type);
}

/**
 * Golden rule: if the wrapper crashes or is told to stop, the workload continues. Nothing is
 * forwarded, nothing is tied to the wrapper's life (no PDEATHSIG, own session: the keeper's, when
 * the workload runs under one, else its own).
 */
describe.each([['pidfd'], ['polling']])('crash safety (%s backend)', (backend) => {
  const env = { FFRTMP_OBSERVER: backend };

  it('kill -9 of `ffrtmp run -- sleep 30` leaves the sleep running, in its own session', async () => {
    const wrapper = startFfrtmp(['run', '--job-id', `killed-${backend}`, '--', 'sleep', '30'], env);
    const sleepPid = await waitFor(() => workloadNamed(wrapper.pid!, 'sleep'));
    const leader = backend === 'pidfd' ? keeperOf(wrapper.pid!)! : sleepPid;
    try {
      await waitFor(() => sessionOf(sleepPid) === leader);
      expect(sessionOf(sleepPid)).not.toBe(sessionOf(wrapper.pid!));
      await waitFor(() => recordsOf(`killed-${backend}`).includes('started'));
      wrapper.kill('SIGKILL');
      await exited(wrapper);
      await new Promise((r) => setTimeout(r, 300));
      expect(isAlive(sleepPid)).toBe(true);
    } finally {
      killQuietly(sleepPid);
    }
    // Its end is then recorded by the adopter: one Result, and its cgroup leaves removed.
    await recoverJobs(TEST_STATE_DIR, env);
    expect(recordsOf(`killed-${backend}`)).toEqual(['started', 'result']);
  });

  it.each(['SIGTERM', 'SIGINT', 'SIGHUP'] as const)(
    '%s to the wrapper: detached_workload_continues, exit 128+n, the sleep keeps running; the job stays open',
    async (sig) => {
      const jobId = `detach-${backend}-${sig}`;
      const wrapper = startFfrtmp(['run', '--job-id', jobId, '--', 'sleep', '30'], env);
      const sleepPid = await waitFor(() => workloadNamed(wrapper.pid!, 'sleep'));
      const leader = backend === 'pidfd' ? keeperOf(wrapper.pid!)! : sleepPid;
      try {
        await waitFor(() => sessionOf(sleepPid) === leader);
        wrapper.kill(sig);
        const { code } = await exited(wrapper);
        expect(code).toBe(128 + ({ SIGTERM: 15, SIGINT: 2, SIGHUP: 1 } as const)[sig]);
        expect(summary(wrapper.output().stderr)).toMatchObject({ sla: 'COMPLIANT', reason: 'detached_workload_continues', exit: 'unknown', pid: String(sleepPid) });
        await new Promise((r) => setTimeout(r, 200));
        expect(isAlive(sleepPid)).toBe(true);
        // A detach is not an end: a `detached` record, no Result yet.
        expect(recordsOf(jobId)).toEqual(['started', 'detached']);
      } finally {
        killQuietly(sleepPid);
      }
      await recoverJobs(TEST_STATE_DIR, env);
      expect(recordsOf(jobId)).toEqual(['started', 'detached', 'result']);
    },
  );

  it('SIGTERM to `ffrtmp attach` detaches and leaves the process running', async () => {
    const t = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const wrapper = startFfrtmp(['attach', '--pid', String(t.pid), '--job-id', `attach-detach-${backend}`], env);
      // Node itself catches SIGINT/SIGTERM from startup (to restore the tty); SIGHUP is only ours.
      await waitFor(() => catches(wrapper.pid!, 1)); // our handlers installed: attached and waiting
      await new Promise((r) => setTimeout(r, 100));
      wrapper.kill('SIGTERM');
      const { code } = await exited(wrapper);
      expect({ code, stderr: wrapper.output().stderr }).toMatchObject({ code: 143 });
      expect(wrapper.output().stderr).toMatch(/reason=detached_workload_continues/);
      expect(isAlive(t.pid!)).toBe(true);
      expect(recordsOf(`attach-detach-${backend}`)).toEqual(['started', 'detached']);
    } finally {
      killQuietly(t.pid);
    }
    await recoverJobs(TEST_STATE_DIR, env);
    expect(recordsOf(`attach-detach-${backend}`)).toEqual(['started', 'detached', 'result']);
  });
});
