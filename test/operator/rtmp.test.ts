/**
 * What ffrtmp exists for, tried as an operator tries it: real ffmpeg encoders pushing live
 * streams to a real RTMP server (nginx with libnginx-mod-rtmp, on 127.0.0.1, started here), run
 * under limits, attached to while they stream, detached from and adopted again. The server
 * records every stream it receives, so "the stream really flowed" is a file that grew.
 *
 * Needs Debian's ffmpeg, nginx and libnginx-mod-rtmp (.ci/run installs them); skipped loudly
 * without them.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJournal } from '../../src/journal/reader';
import type { ResultJournalRecord, StartedJournalRecord } from '../../src/journal/types';
import { loadNative } from '../../src/native/load';
import { rtmpReady, startRtmpServer, type RtmpServer } from './rtmp-server';
import { exited, ffrtmp, killQuietly, parseJsonLines, startFfrtmp, summaries, testTempDir, waitFor, freePort } from '../helpers';

const ready = rtmpReady('operator tests');
const native = loadNative();
const infoExit = native.available && native.native.capabilities().pidfdInfoExit;
const cgroups = process.env.FFRTMP_CGROUP_ROOT !== undefined && process.geteuid?.() === 0;


describe.skipIf(!ready)('operator: ffmpeg pushing live streams to nginx-rtmp, governed by ffrtmp', () => {
  const work = testTempDir('rtmp');
  const state = path.join(work, 'state');
  const rec = path.join(work, 'rec');
  let nginx: RtmpServer | undefined;
  let url = '';
  const extra: number[] = [];

  beforeAll(async () => {
    fs.mkdirSync(rec);
    const port = await freePort();
    nginx = await startRtmpServer(work, port, `    application live { live on; record all; record_path ${rec}; record_unique off; }`);
    url = `rtmp://127.0.0.1:${port}/live`;
  });

  afterAll(async () => {
    for (const p of extra) killQuietly(p);
    await ffrtmp(['recover', '--state-dir', state]); // closes whatever a failed test left open
    await nginx?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  /** ffmpeg pushing a synthetic 320x240 H.264 stream named `name` for `seconds`, in real time. */
  const push = (name: string, seconds: number): string[] => [
    'ffmpeg', '-nostdin', '-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25',
    '-t', String(seconds), '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '25', '-f', 'flv', `${url}/${name}`,
  ];
  const recorded = (name: string): number => {
    try {
      return fs.statSync(path.join(rec, `${name}.flv`)).size;
    } catch {
      return 0;
    }
  };
  const records = () => readJournal(state).records;

  it('run under a CPU quota and a memory limit: the stream flows, the limits hold, exit 0, COMPLIANT', async () => {
    const r = await ffrtmp(['run', '--state-dir', state, '--job-id', 'cam-run', '--intent', 'production', '--cpu-quota', '50', '--memory-max', '256M', '--json', '--', ...push('cam-run', 3)], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(summaries(r.stderr)[0]).toMatchObject({ job: 'cam-run', intent: 'production', sla: 'COMPLIANT', reason: 'completed_successfully', exit: '0' });
    const res = parseJsonLines(r.stderr)[0] as unknown as ResultJournalRecord;
    expect(res.processing_seconds).toBeGreaterThan(2.5); // -re: real time
    expect(recorded('cam-run')).toBeGreaterThan(20_000);
    if (cgroups) {
      expect(res.cgroup!.limits.every((l) => l.applied)).toBe(true);
      expect(res.usage!.cpu_seconds! / res.processing_seconds).toBeLessThan(0.55);
      expect(res.usage!.memory_peak_bytes).toBeGreaterThan(1024 * 1024);
      expect(res.cgroup!.removal).toEqual({ removed: true, left: [] });
    }
  }, 40_000);

  it('attach to three live encoders without limits: they stay where they are, each gets its real exit', async () => {
    const encoders = ['cam-a', 'cam-b', 'cam-c'].map((n) => {
      const p = spawn(push(n, 3)[0]!, push(n, 3).slice(1), { stdio: 'ignore' });
      extra.push(p.pid!);
      return { name: n, p, cgroup: '' };
    });
    await waitFor(() => encoders.every((e) => recorded(e.name) > 0) || undefined, 10_000);
    for (const e of encoders) e.cgroup = fs.readFileSync(`/proc/${e.p.pid}/cgroup`, 'utf8');
    const w = startFfrtmp(['attach', '--state-dir', state, '--json', '--intent', 'production', ...encoders.flatMap((e) => ['--pid', String(e.p.pid), '--job-id', e.name])]);
    await waitFor(() => records().filter((x) => x.type === 'started' && x.job_id.startsWith('cam-')).length >= 4 || undefined, 10_000);
    for (const e of encoders) expect(fs.readFileSync(`/proc/${e.p.pid}/cgroup`, 'utf8')).toBe(e.cgroup); // nothing moved
    expect(await exited(w)).toMatchObject({ code: 0 });
    const results = parseJsonLines(w.output().stdout) as unknown as ResultJournalRecord[];
    expect(results.map((x) => x.job_id).sort()).toEqual(['cam-a', 'cam-b', 'cam-c']);
    for (const x of results) {
      expect(x.platform_sla_reason).toBe('observed_to_completion');
      expect(x.exit_code).toBe(infoExit ? 0 : null);
      expect(x.cgroup).toBeUndefined(); // no limits: not governed by a cgroup, not moved
    }
    for (const e of encoders) expect(recorded(e.name)).toBeGreaterThan(20_000);
  }, 40_000);

  it('attach with a memory limit moves an encoder into its job cgroup and says what it left', async () => {
    const p = spawn(push('cam-moved', 3)[0]!, push('cam-moved', 3).slice(1), { stdio: 'ignore' });
    extra.push(p.pid!);
    await waitFor(() => recorded('cam-moved') > 0 || undefined, 10_000);
    const r = await ffrtmp(['attach', '--state-dir', state, '--pid', String(p.pid), '--job-id', 'cam-moved', '--memory-max', '512M', '--json'], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    const res = parseJsonLines(r.stdout)[0] as unknown as ResultJournalRecord;
    if (!cgroups) return;
    expect(r.stderr).toMatch(new RegExp(`^ffrtmp: moved pid ${p.pid} into job cgroups for the limits asked for, out of `, 'm'));
    expect(res.cgroup!.moved_from!.length).toBeGreaterThan(0);
    expect(res.cgroup!.limits[0]).toMatchObject({ limit: 'memory.max', applied: true });
    expect(res.usage!.since).toBe('attach');
    expect(res.cgroup!.removal!.removed).toBe(true);
  }, 40_000);

  it('SIGTERM to the wrapper: the stream goes on; recover records the encoder\'s real end and usage', async () => {
    const w = startFfrtmp(['run', '--state-dir', state, '--job-id', 'cam-detach', '--memory-max', '256M', '--', ...push('cam-detach', 4)]);
    const s = await waitFor(() => records().find((x): x is StartedJournalRecord => x.type === 'started' && x.job_id === 'cam-detach'), 10_000);
    extra.push(s.pid);
    await waitFor(() => recorded('cam-detach') > 0 || undefined, 10_000);
    w.kill('SIGTERM');
    expect(await exited(w)).toMatchObject({ code: 143 });
    const before = recorded('cam-detach');
    await new Promise((r) => setTimeout(r, 700));
    expect(recorded('cam-detach')).toBeGreaterThan(before); // still streaming, unwatched
    const r = await ffrtmp(['recover', '--state-dir', state], { timeoutMs: 40_000 });
    expect(r.code, r.stderr).toBe(0);
    const res = records().find((x): x is ResultJournalRecord => x.type === 'result' && x.job_id === 'cam-detach')!;
    // its keeper recorded the encoder's real end, whoever writes the Result, on every kernel
    expect(res).toMatchObject({ run_id: s.run_id, platform_sla_reason: 'completed_successfully', exit_code: 0, exit_source: 'keeper', keeper: { pid: s.keeper!.pid } });
    if (cgroups) {
      expect(res.usage!.cpu_seconds).toBeGreaterThan(0);
      expect(res.cgroup!.removal).toEqual({ removed: true, left: [] });
    }
  }, 60_000);
});
