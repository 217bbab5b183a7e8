import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { catches, summary, childNamed, exited, isAlive, killQuietly, sessionOf, startFfrtmp, waitFor } from '../helpers';

/**
 * Golden rule: if the wrapper crashes or is told to stop, the workload continues. Nothing is
 * forwarded, nothing is tied to the wrapper's life (no PDEATHSIG, own session).
 */
describe.each([['pidfd'], ['polling']])('crash safety (%s backend)', (backend) => {
  const env = { FFRTMP_OBSERVER: backend };

  it('kill -9 of `ffrtmp run -- sleep 30` leaves the sleep running, in its own session', async () => {
    const wrapper = startFfrtmp(['run', '--', 'sleep', '30'], env);
    const sleepPid = await waitFor(() => childNamed(wrapper.pid!, 'sleep'));
    try {
      await waitFor(() => sessionOf(sleepPid) === sleepPid);
      expect(sessionOf(sleepPid)).not.toBe(sessionOf(wrapper.pid!));
      wrapper.kill('SIGKILL');
      await exited(wrapper);
      await new Promise((r) => setTimeout(r, 300));
      expect(isAlive(sleepPid)).toBe(true);
    } finally {
      killQuietly(sleepPid);
    }
  });

  it.each(['SIGTERM', 'SIGINT', 'SIGHUP'] as const)(
    '%s to the wrapper: detached_workload_continues, exit 128+n, the sleep keeps running',
    async (sig) => {
      const wrapper = startFfrtmp(['run', '--job-id', 'detach', '--', 'sleep', '30'], env);
      const sleepPid = await waitFor(() => childNamed(wrapper.pid!, 'sleep'));
      try {
        await waitFor(() => sessionOf(sleepPid) === sleepPid);
        wrapper.kill(sig);
        const { code } = await exited(wrapper);
        expect(code).toBe(128 + ({ SIGTERM: 15, SIGINT: 2, SIGHUP: 1 } as const)[sig]);
        expect(summary(wrapper.output().stderr)).toMatchObject({ sla: 'COMPLIANT', reason: 'detached_workload_continues', exit: 'unknown', pid: String(sleepPid) });
        await new Promise((r) => setTimeout(r, 200));
        expect(isAlive(sleepPid)).toBe(true);
      } finally {
        killQuietly(sleepPid);
      }
    },
  );

  it('SIGTERM to `ffrtmp attach` detaches and leaves the process running', async () => {
    const t = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const wrapper = startFfrtmp(['attach', '--pid', String(t.pid)], env);
      // Node itself catches SIGINT/SIGTERM from startup (to restore the tty); SIGHUP is only ours.
      await waitFor(() => catches(wrapper.pid!, 1)); // our handlers installed: attached and waiting
      await new Promise((r) => setTimeout(r, 100));
      wrapper.kill('SIGTERM');
      const { code } = await exited(wrapper);
      expect({ code, stderr: wrapper.output().stderr }).toMatchObject({ code: 143 });
      expect(wrapper.output().stderr).toMatch(/reason=detached_workload_continues/);
      expect(isAlive(t.pid!)).toBe(true);
    } finally {
      killQuietly(t.pid);
    }
  });
});
