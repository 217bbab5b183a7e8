/**
 * The guest kernel (Debian 6.1) has pidfd_open but not PIDFD_INFO_EXIT (6.15): the exit status
 * of a process that is not the wrapper's child cannot be known there, and must come out as
 * `unknown`, never a made-up number. On a kernel that has it, the real status is expected.
 * Runs with the VM suite (test/cgroup-v2/vitest.config.mts) and anywhere else it is pointed at.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { loadNative } from '../../src/native/load';
import { catches, exited, parseJsonLines, startFfrtmp, waitFor } from '../helpers';

const native = loadNative();
const caps = native.available ? native.native.capabilities() : undefined;

describe('attach: the exit status of a non-child follows what the kernel can tell', { timeout: 300_000 }, () => {
  it(`kernel ${caps?.kernelRelease ?? '?'}: ${caps?.pidfdInfoExit ? 'real status via pidfd_info' : 'exit unknown, never invented'}`, async () => {
    // Not the wrapper's child: this test process starts it (and its libuv reaps it). It exits 7
    // once told to, after the wrapper is attached (node starts slowly in an emulated guest).
    const target = spawn('sh', ['-c', 'read go; exit 7'], { stdio: ['pipe', 'ignore', 'ignore'] });
    const wrapper = startFfrtmp(['attach', '--pid', String(target.pid), '--json']);
    await waitFor(() => catches(wrapper.pid!, 1), 240_000, 50); // its handlers are installed just before the pidfd is opened
    await new Promise((r) => setTimeout(r, 1_000));
    target.stdin!.end('go\n');
    await exited(target);
    const r = { code: (await exited(wrapper)).code, ...wrapper.output() };
    expect(r.code, r.stderr).toBe(0);
    const [res] = parseJsonLines(r.stdout);
    expect(res).toMatchObject({ pid: target.pid, platform_sla_reason: 'observed_to_completion', platform_sla_compliant: true });
    if (caps?.pidfdInfoExit) {
      expect(res).toMatchObject({ exit_code: 7, signal: null, exit_source: 'pidfd_info' });
    } else {
      expect(res).toMatchObject({ exit_code: null, signal: null, exit_source: 'unknown' });
      expect(r.stderr).toMatch(/\| exit=unknown \|/);
    }
  });
});
