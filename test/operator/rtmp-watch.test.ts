/**
 * `ffrtmp watch` as an edge node runs it: an RTMP server (nginx + libnginx-mod-rtmp, on
 * 127.0.0.1, started here) starts an `ffmpeg` relay for every stream published to it
 * (`exec_push`), and the daemon governs each relay the moment it starts, with the limits of its
 * settings file. Only the server's own ffmpeg processes are governed (`allowed_parents`: the
 * server), so the test's publisher, and every other test's ffmpeg, are left alone.
 *
 * Needs Debian's ffmpeg, nginx and libnginx-mod-rtmp (.ci/run installs them); skipped loudly
 * without them.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJournal } from '../../src/journal/reader';
import type { ResultJournalRecord } from '../../src/journal/types';
import { rtmpReady, startRtmpServer } from './rtmp-server';
import { exited, ffrtmp, freePort, killQuietly, parseJsonLines, startFfrtmp, testTempDir, waitFor } from '../helpers';

const ready = rtmpReady('watch operator test');
const cgroups = process.env.FFRTMP_CGROUP_ROOT !== undefined && process.geteuid?.() === 0;
const FFMPEG = spawnSync('sh', ['-c', 'command -v ffmpeg'], { encoding: 'utf8' }).stdout.trim();

describe.skipIf(!ready)('operator: nginx-rtmp exec_push relays, governed by ffrtmp watch as they start', () => {
  const work = testTempDir('rtmp-watch');
  const state = path.join(work, 'state');
  const rec = path.join(work, 'rec');
  let nginx: ChildProcess;
  let stopServer = async (): Promise<void> => {};
  let watch: ReturnType<typeof startFfrtmp> | undefined;
  let port = 0;
  const extra: number[] = [];

  beforeAll(async () => {
    fs.mkdirSync(rec);
    port = await freePort();
    // Every stream published to /live is relayed by an ffmpeg the server starts, to /out, which records it.
    const server = await startRtmpServer(work, port, `
    application live {
      live on;
      exec_push ${FFMPEG} -nostdin -hide_banner -loglevel error -probesize 32768 -analyzeduration 500000 -i rtmp://127.0.0.1:${port}/live/$name -c copy -f flv rtmp://127.0.0.1:${port}/out/$name;
    }
    application out { live on; record all; record_path ${rec}; record_unique off; }`);
    nginx = server.process;
    stopServer = () => server.stop();
  });

  afterAll(async () => {
    if (watch && watch.exitCode === null) {
      watch.kill('SIGTERM');
      await exited(watch);
    }
    for (const p of extra) killQuietly(p);
    await stopServer();
    await ffrtmp(['recover', '--state-dir', state]); // closes whatever a failed test left open
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('each relay is governed within milliseconds, limited, and recorded to its end; the publisher is not touched', async () => {
    const cfg = path.join(work, 'watch.yaml');
    fs.writeFileSync(cfg, [
      'target_commands: [ffmpeg]',
      'default_limits: { cpu_quota: 50, memory_max: 256M }',
      `filters: { allowed_parents: [${nginx.pid}] }`,
      '',
    ].join('\n'));
    watch = startFfrtmp(['watch', '--watch-config', cfg, '--state-dir', state, '--listen', '127.0.0.1:0', '--log-format', 'json', '--log-level', 'debug']);
    const lines = (): Record<string, unknown>[] => parseJsonLines(watch!.output().stderr);
    const started = await waitFor(() => lines().find((l) => l.event === 'watch_started'), 30_000);
    expect(started).toMatchObject({ discovery: 'events' });

    // Two cameras publish for 5 s each (the relay copies once it has probed the input).
    const publishers = ['cam-1', 'cam-2'].map((name) => {
      const p = spawn(FFMPEG, ['-nostdin', '-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25', '-t', '5',
        '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '25', '-f', 'flv', `rtmp://127.0.0.1:${port}/live/${name}`], { stdio: 'ignore' });
      extra.push(p.pid!);
      return p;
    });
    const relays = await waitFor(() => {
      const g = lines().filter((l) => l.event === 'governed');
      return g.length >= 2 ? g : undefined;
    }, 30_000);
    for (const g of relays) {
      expect(g).toMatchObject({ command: 'ffmpeg', path: 'event' });
      expect(fs.readFileSync(`/proc/${g.pid as number}/stat`, 'latin1').split(') ')[1]!.split(' ')[1]).toBe(String(nginx.pid)); // the server's child
      if (cgroups) expect(Number(fs.readFileSync(path.join(g.cgroup as string, 'memory.limit_in_bytes'), 'utf8'))).toBe(256 << 20);
    }
    // The publishers are ffmpeg too, but not the server's: left alone, said once at debug level.
    for (const p of publishers) {
      expect(lines().find((l) => l.event === 'governed' && l.pid === p.pid)).toBeUndefined();
      expect(lines().filter((l) => l.event === 'skipped' && l.pid === p.pid && l.why === 'filtered')).toHaveLength(1);
    }
    await Promise.all(publishers.map(exited));
    // The server ends each relay when its publisher stops; the daemon records each end.
    const results = await waitFor(() => {
      const r = readJournal(state).records.filter((x): x is ResultJournalRecord => x.type === 'result');
      return r.length >= 2 ? r : undefined;
    }, 30_000);
    expect(results.map((r) => r.pid).sort()).toEqual(relays.map((g) => g.pid).sort());
    for (const r of results) {
      expect(r).toMatchObject({ mode: 'attach', platform_sla_compliant: true, platform_sla_reason: 'observed_to_completion' });
      expect(r.job_id).toBe(`auto-ffmpeg-${r.pid}`);
      if (cgroups) expect(r.cgroup!.limits.every((l) => l.applied)).toBe(true);
    }
    // The relayed streams really flowed.
    for (const name of ['cam-1', 'cam-2']) expect(fs.statSync(path.join(rec, `${name}.flv`)).size).toBeGreaterThan(20_000);
    watch.kill('SIGTERM');
    expect((await exited(watch)).code).toBe(0);
  }, 90_000);
});
