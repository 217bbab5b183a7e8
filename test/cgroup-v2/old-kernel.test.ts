/**
 * The guest kernel (Debian 6.1) has pidfd_open but not PIDFD_INFO_EXIT (6.15): the exit status
 * of a process that is not the wrapper's child cannot be known there, and must come out as
 * `unknown`, never a made-up number. On a kernel that has it, the real status is expected.
 * A workload started by `ffrtmp run` has its keeper as parent, whose exit file keeps the real
 * status when the wrapper dies: on this kernel as on any.
 * Runs with the VM suite (test/cgroup-v2/vitest.config.mts) and anywhere else it is pointed at.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readJournal } from '../../src/journal/reader';
import type { ResultJournalRecord, StartedJournalRecord } from '../../src/journal/types';
import { loadNative } from '../../src/native/load';
import { catches, exited, ffrtmp, isAlive, parseJsonLines, startFfrtmp, testTempDir, waitFor, workloadNamed } from '../helpers';

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

describe('run: a wrapper killed -9, and the keeper still keeps the real exit status', { timeout: 300_000 }, () => {
  it(`kernel ${caps?.kernelRelease ?? '?'}: recover records exit 5 from the keeper`, async () => {
    const dir = testTempDir('vm-keeper');
    const fifo = path.join(dir, 'go');
    execFileSync('mkfifo', [fifo]);
    try {
      // The workload waits for the test's word, so that it surely ends after its wrapper died.
      const w = startFfrtmp(['run', '--state-dir', dir, '--job-id', 'vm-k9', '--', 'sh', '-c', `read go < ${fifo}; exit 5`]);
      await waitFor(() => workloadNamed(w.pid!, 'sh'), 240_000, 50); // recorded, then exec'd
      const s = readJournal(dir).records.find((r): r is StartedJournalRecord => r.type === 'started')!;
      expect(s.keeper).toBeDefined();
      w.kill('SIGKILL');
      await exited(w);
      await fs.promises.writeFile(fifo, 'go\n');
      await waitFor(() => !isAlive(s.pid) || undefined, 60_000, 50);
      const r = await ffrtmp(['recover', '--state-dir', dir], { timeoutMs: 240_000 });
      expect(r.code, r.stderr).toBe(0);
      const results = readJournal(dir).records.filter((x): x is ResultJournalRecord => x.type === 'result');
      expect(results).toHaveLength(1);
      expect(results[0]).toMatchObject({ job_id: 'vm-k9', exit_code: 5, signal: null, exit_source: 'keeper', platform_sla_reason: 'workload_failed_platform_ok', keeper: { pid: s.keeper!.pid } });
    } finally {
      await ffrtmp(['recover', '--state-dir', dir], { timeoutMs: 240_000 }); // its leaf, should the test have failed first
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
