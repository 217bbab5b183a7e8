/**
 * The netlink process connector (src/native/proc-events.ts, native/proc_connector.cc), against
 * the real kernel with real processes: nothing is mocked.
 *
 * Other suites run beside this one and exec things all the time, so every assertion is about
 * processes this file started (their pids, or target names no one else uses), and counters are
 * checked as lower bounds.
 */
import { type ChildProcess, spawn as cpSpawn, execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { SystemError } from '../../src/native/errors';
import {
  COMM_MAX_BYTES, DEFAULT_HOLD_OFF_MS, type ProcEventsBatch, type ProcEventsHandle, type ProcEventsStats, type ProcExec, commOf,
  openProcEvents, probeProcEvents,
} from '../../src/native/proc-events';
import { ROOT, blockMs, nativeDisabled, owner, runNode, sleepMs } from './helpers';

const isRoot = process.getuid?.() === 0;
const [major, minor] = release().split('.').map(Number) as [number, number];
const kernel66 = major > 6 || (major === 6 && minor >= 6);
const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));

const dirs: string[] = [];
const kids = new Set<ChildProcess>();
const handles = new Set<ProcEventsHandle>();

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ffrtmp-cnproc-'));
  chmodSync(d, 0o755); // the unprivileged test runs binaries from here
  dirs.push(d);
  return d;
}

/** A copy of /bin/sleep under another name: its exec gives that comm. */
function program(dir: string, name: string): string {
  const p = join(dir, name);
  copyFileSync('/bin/sleep', p);
  chmodSync(p, 0o755);
  return p;
}

function track(cp: ChildProcess): ChildProcess {
  kids.add(cp);
  cp.on('exit', () => kids.delete(cp));
  return cp;
}

/** Runs `file args` (a direct exec, no shell): the child's pid is the exec event's pid. */
function run(file: string, ...args: string[]): ChildProcess {
  return track(cpSpawn(file, args, { stdio: 'ignore' }));
}

/** Opens the connector and records every batch (with the CLOCK_MONOTONIC ns it arrived at). */
function open(opts: Parameters<typeof openProcEvents>[0]) {
  const batches: Array<ProcEventsBatch & { arrivedNs: number }> = [];
  const handle = openProcEvents(opts, (b) => batches.push({ ...b, arrivedNs: Number(process.hrtime.bigint()) }));
  handles.add(handle);
  const execs = (): ProcExec[] => batches.flatMap((b) => b.execs);
  return {
    handle,
    batches,
    execs,
    sum: (k: 'received' | 'filtered' | 'overruns') => batches.reduce((n, b) => n + b[k], 0),
    /** Resolves with the first truthy value of `probe`, polled every 5 ms. */
    async until<T>(probe: () => T | undefined | null | false, what: string, timeoutMs = 10_000): Promise<T> {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const v = probe();
        if (v) return v;
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}; batches: ${JSON.stringify(batches).slice(0, 2000)}`);
        await sleepMs(5);
      }
    },
    close() {
      handle.close();
      handles.delete(handle);
    },
  };
}

/**
 * Voluntary context switches of this process's watcher thread (vitest runs each file in its own
 * process: there is one), i.e. the times it went to sleep: one per wake-up.
 */
function watcherSleeps(): number {
  for (const tid of readdirSync('/proc/self/task')) {
    let status: string;
    try {
      status = readFileSync(`/proc/self/task/${tid}/status`, 'utf8');
    } catch {
      continue;
    }
    if (/^Name:\s+ffrtmp-watcher$/m.test(status)) return Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status)![1]);
  }
  throw new Error('no ffrtmp-watcher thread in this process');
}

const delta = (a: ProcEventsStats, b: ProcEventsStats) => ({
  received: b.received - a.received,
  filtered: b.filtered - a.filtered,
  crossed: b.crossed - a.crossed,
  overruns: b.overruns - a.overruns,
  drains: b.drains - a.drains,
});

const execOf = (r: { execs(): ProcExec[] }, pid: number | undefined, comm?: string) =>
  r.execs().find((e) => e.pid === pid && (comm === undefined || e.comm === comm));

afterEach(() => {
  for (const h of handles) h.close();
  handles.clear();
  for (const k of kids) k.kill('SIGKILL');
});

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe.skipIf(nativeDisabled)('process connector', () => {
  it('reports the exec of an `ffmpeg` (a renamed sleep started through sh -c) with its pid, comm and kernel time', async () => {
    const ff = program(tempDir(), 'ffmpeg');
    const r = open({ targets: ['ffmpeg', 'gst-launch-1.0'] });
    expect(r.handle.socketFilter).toBe(true);
    expect(r.handle.kernelFilter).toBe(kernel66);
    expect(r.handle.rcvbufBytes).toBeGreaterThan(0);
    const t0 = Number(process.hrtime.bigint());
    const wall0 = Date.now();
    const sh = track(cpSpawn('sh', ['-c', `exec "${ff}" 30`], { stdio: 'ignore' }));
    const hit = await r.until(() => execOf(r, sh.pid, 'ffmpeg'), 'the ffmpeg exec');
    const batch = r.batches.find((b) => b.execs.includes(hit))!;
    expect(hit.timestampNs).toBeGreaterThanOrEqual(t0);
    expect(hit.timestampNs).toBeLessThanOrEqual(Number(process.hrtime.bigint()));
    expect(batch.detectedAtMs).toBeGreaterThanOrEqual(wall0 - 1);
    expect(batch.detectedAtMs).toBeLessThanOrEqual(Date.now() + 1);
    expect(batch.arrivedNs).toBeGreaterThan(hit.timestampNs);
    expect(batch.error).toBeUndefined();
    // one entry per pid even though sh (same pid) exec'd first
    expect(r.execs().filter((e) => e.pid === sh.pid)).toHaveLength(1);
    // only targets cross
    expect(r.execs().every((e) => e.comm === 'ffmpeg' || e.comm === 'gst-launch-1.0')).toBe(true);
    r.close();
  });

  it('filters non-targets in C: 200 execs of /bin/true are counted as filtered and none crosses', async () => {
    const dir = tempDir();
    const marker = program(dir, 'ffrtmp-cnp-mark');
    const r = open({ targets: ['ffrtmp-cnp-mark'] });
    const sh = track(
      cpSpawn('sh', ['-c', `i=0; while [ $i -lt 200 ]; do /bin/true; i=$((i+1)); done; exec "${marker}" 5`], { stdio: 'ignore' }),
    );
    await r.until(() => execOf(r, sh.pid, 'ffrtmp-cnp-mark'), 'the marker exec');
    // Nothing crossed before the marker: the 200 execs (and everyone else's) stayed in C, and
    // their counts rode along with the marker's batch.
    expect(r.batches).toHaveLength(1);
    const [b] = r.batches;
    expect(b!.execs).toEqual([expect.objectContaining({ pid: sh.pid, comm: 'ffrtmp-cnp-mark' })]);
    expect(b!.filtered).toBeGreaterThanOrEqual(200);
    expect(b!.received).toBe(b!.filtered + 1);
    expect(b!.overruns).toBe(0);
    r.close();
  });

  it('stats() counts a burst of non-target execs as filtered in C while no batch crosses, and freezes at close', async () => {
    const r = open({ targets: ['ffrtmp-cnp-none'] });
    expect(r.handle.holdOffMs).toBe(DEFAULT_HOLD_OFF_MS);
    const s0 = r.handle.stats();
    // sh, then 200 execs of /bin/true. spawnSync blocks this thread: the counters move anyway.
    spawnSync('sh', ['-c', 'i=0; while [ $i -lt 200 ]; do /bin/true; i=$((i+1)); done']);
    await r.until(() => r.handle.stats().received - s0.received >= 201, '201 exec events counted');
    const d = delta(s0, r.handle.stats());
    expect(d.filtered).toBeGreaterThanOrEqual(201);
    expect(d.crossed).toBe(0);
    expect(d.overruns).toBe(0);
    expect(d.drains).toBeGreaterThan(0);
    expect(r.batches).toHaveLength(0); // a batch's counters would still say nothing
    r.close();
    const frozen = r.handle.stats();
    expect(frozen.filtered - s0.filtered).toBeGreaterThanOrEqual(201);
    expect(frozen.crossed).toBe(0);
    spawnSync('/bin/true');
    await sleepMs(50);
    expect(r.handle.stats()).toEqual(frozen);
  });

  it('coalescing: paced bursts of execs cost far fewer drains than events; an exec after a quiet spell is read at once', async () => {
    const dir = tempDir();
    const target = program(dir, 'ffrtmp-cnp-iso');
    const r = open({ targets: ['ffrtmp-cnp-iso'] });
    await sleepMs(100);
    const s0 = r.handle.stats();
    // 8 rounds: 40 processes wait to open a FIFO, then are let go together (a writer opens it)
    // and exec /bin/true; ~0.1 s between rounds. Like the bench's pacer: paced bursts.
    const fifo = join(dir, 'go');
    const script = `j=0; while [ $j -lt 8 ]; do
        mkfifo "${fifo}"; i=0
        while [ $i -lt 40 ]; do /bin/true < "${fifo}" & i=$((i+1)); done
        sleep 0.05; exec 4<>"${fifo}"; wait; exec 4<&-; rm "${fifo}"; sleep 0.1; j=$((j+1))
      done`;
    const t0 = Date.now();
    const stream = track(cpSpawn('sh', ['-c', script], { stdio: 'ignore' }));
    expect(await new Promise((res) => stream.on('exit', res))).toBe(0);
    const streamMs = Date.now() - t0;
    await sleepMs(50); // the last hold-off
    const d = delta(s0, r.handle.stats());
    // eslint-disable-next-line no-console
    console.log(`coalescing: ${d.received} exec events in ${streamMs} ms, ${d.drains} drains (${(d.drains / d.received).toFixed(2)} per event)`);
    expect(d.received).toBeGreaterThanOrEqual(8 * 40);
    expect(d.drains).toBeLessThan(d.received * 0.5);
    expect(d.overruns).toBe(0);

    // Then quiet (for us: other suites exec meanwhile), and one target exec: read at once.
    await sleepMs(150);
    const t = run(target, '5');
    const hit = await r.until(() => execOf(r, t.pid, 'ffrtmp-cnp-iso'), 'the isolated exec');
    const batch = r.batches.find((b) => b.execs.includes(hit))!;
    const latencyMs = (batch.arrivedNs - hit.timestampNs) / 1e6;
    // eslint-disable-next-line no-console
    console.log(`isolated exec -> JS: ${latencyMs.toFixed(3)} ms (with this thread's own spawn bookkeeping)`);
    expect(latencyMs).toBeGreaterThan(0);
    expect(latencyMs).toBeLessThan(500);
    r.close();
  });

  it('a quiet socket costs no wake-up: drains only move with exec events', async () => {
    const r = open({ targets: ['ffrtmp-cnp-none'] });
    // Wait for a spell without exec events (other suites run beside this one), so that no
    // hold-off is pending when the window starts.
    let s0 = r.handle.stats();
    let since = Date.now();
    for (const end = Date.now() + 5000; Date.now() < end && Date.now() - since < 150; ) {
      await sleepMs(10);
      const s = r.handle.stats();
      if (s.received !== s0.received || s.drains !== s0.drains) (s0 = s), (since = Date.now());
    }
    const w0 = watcherSleeps();
    await sleepMs(1000);
    const d = delta(s0, r.handle.stats());
    const sleeps = watcherSleeps() - w0;
    // eslint-disable-next-line no-console
    console.log(`quiet 1 s: ${d.received} exec events (others'), ${d.drains} drains, ${sleeps} watcher wake-ups`);
    if (d.received === 0) {
      expect(d.drains).toBe(0);
      expect(sleeps).toBe(0);
    } else {
      // A drain reads an exec, or ends a hold-off that began with one (plus, rarely, an exit
      // that was on its way when the hold-off ended).
      expect(d.drains).toBeLessThanOrEqual(2 * d.received + d.overruns + 1);
      expect(sleeps).toBeLessThanOrEqual(d.drains + 1);
    }
    r.close();
  });

  it('a blocked JS thread loses nothing: the watcher thread drains, the batches wait in the queue', async () => {
    const dir = tempDir();
    const p = program(dir, 'ffrtmp-cnp-blk');
    const r = open({ targets: ['ffrtmp-cnp-blk'] });
    // execFileSync blocks this thread until all 20 have run (each lives 300 ms so its comm is
    // still readable when the watcher thread looks).
    execFileSync('sh', ['-c', `for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do "${p}" 0.3 & done; wait`]);
    expect(r.batches).toHaveLength(0); // nothing could run on this thread yet
    await r.until(() => new Set(r.execs().map((e) => e.pid)).size >= 20, '20 distinct execs');
    expect(r.sum('overruns')).toBe(0);
    r.close();
  });

  it('an overrun (tiny buffer, a stopped reader, a burst of execs) is reported as overruns > 0', async () => {
    // The drain runs on the addon's own thread, so blocking JS cannot overflow the socket (the
    // test above). Stopping the whole reader process can: a child opens the connector with a
    // 1-byte request (the kernel's floor: a few datagrams) and is SIGSTOPped during the burst.
    const child = track(
      cpSpawn(
        process.execPath,
        [
          '-e',
          `const addon = require(${JSON.stringify(join(ROOT, 'node_modules', 'node-gyp-build'))})(${JSON.stringify(ROOT)});
           addon.watcherStart(() => {});
           const r = addon.procEventsOpen(['ffrtmp-cnp-none'], 1, true, (b) => {
             console.log(JSON.stringify(b)); addon.procEventsClose(r.id);
           });
           console.log(JSON.stringify(r));`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      ),
    );
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    const end = Date.now() + 10_000;
    while (!out.includes('\n') && Date.now() < end) await sleepMs(5);
    const opened = JSON.parse(out.split('\n')[0]!) as { rcvbufBytes: number };
    expect(opened.rcvbufBytes).toBeLessThan(16 * 1024); // the floor (2304 on 6.18 x86-64)
    const signal = (s: NodeJS.Signals) => {
      if (child.exitCode === null) child.kill(s); // it exits by itself after its first batch
    };
    signal('SIGSTOP');
    try {
      spawnSync('sh', ['-c', 'i=0; while [ $i -lt 5000 ]; do /bin/true; i=$((i+1)); done']);
    } finally {
      signal('SIGCONT');
    }
    expect(await exited).toBe(0);
    const batch = JSON.parse(out.split('\n')[1]!) as ProcEventsBatch;
    expect(batch.overruns).toBeGreaterThan(0);
    expect(batch.execs).toEqual([]);
    // what fitted in the buffer was still read
    expect(batch.received).toBeGreaterThan(0);
    expect(batch.received).toBeLessThan(100);
  }, 120_000);

  it('setTargets changes what crosses, without reopening', async () => {
    const dir = tempDir();
    const a = program(dir, 'ffrtmp-cnp-a');
    const b = program(dir, 'ffrtmp-cnp-b');
    const r = open({ targets: ['ffrtmp-cnp-a'] });
    const b1 = run(b, '5');
    await sleepMs(50);
    const a1 = run(a, '5');
    await r.until(() => execOf(r, a1.pid), 'a1');
    expect(execOf(r, b1.pid)).toBeUndefined(); // b1 exec'd before a1 and was drained first

    r.handle.setTargets(['ffrtmp-cnp-b']);
    const a2 = run(a, '5');
    await sleepMs(50);
    const b2 = run(b, '5');
    await r.until(() => execOf(r, b2.pid, 'ffrtmp-cnp-b'), 'b2');
    expect(execOf(r, a2.pid)).toBeUndefined();

    r.handle.setTargets([]); // empty: every exec is a candidate
    const t = run('/bin/sleep', '5');
    await r.until(() => execOf(r, t.pid, 'sleep'), 'any exec');
    r.close();
    r.handle.setTargets(['x']); // closed: a no-op
  });

  it('long and multi-byte names match on their first 15 bytes, as the kernel truncates comm', async () => {
    const dir = tempDir();
    const long = 'ffrtmp-cnp-long-name'; // 20 bytes → comm 'ffrtmp-cnp-long'
    const split = 'cnpx' + 'é'.repeat(6); // 16 bytes: byte 15 cuts the last é in half
    expect(commOf(long)).toBe('ffrtmp-cnp-long');
    expect(Buffer.byteLength(commOf(long))).toBe(COMM_MAX_BYTES);
    expect(commOf(split)).toBe('cnpx' + 'é'.repeat(5) + '\uFFFD');
    expect(commOf('gst-launch-1.0')).toBe('gst-launch-1.0');
    const r = open({ targets: [long, split] });
    const p1 = run(program(dir, long), '5');
    const p2 = run(program(dir, split), '5');
    await r.until(() => execOf(r, p1.pid) && execOf(r, p2.pid), 'both execs');
    expect(execOf(r, p1.pid)!.comm).toBe(commOf(long));
    expect(execOf(r, p2.pid)!.comm).toBe(commOf(split));
    r.close();
  });

  it('close() is idempotent, and no batch is delivered after it, even one already queued', async () => {
    const r = open({ targets: [] });
    const t = run('/bin/sleep', '5');
    blockMs(200); // the watcher thread queues the batch for this thread meanwhile
    r.handle.close();
    r.handle.close();
    r.handle[Symbol.dispose]();
    await sleepMs(100);
    expect(execOf(r, t.pid)).toBeUndefined();
    expect(r.batches).toHaveLength(0);
    // and it can be opened again
    const r2 = open({ targets: ['sleep'] });
    const t2 = run('/bin/sleep', '5');
    await r2.until(() => execOf(r2, t2.pid), 'an exec after reopening');
    r2.close();
  });

  it('one connector per thread: a second open throws EBUSY as a SystemError; bad options are TypeErrors', () => {
    const r = open({ targets: ['x'] });
    let err: unknown;
    try {
      openProcEvents({ targets: ['y'] }, () => {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SystemError);
    expect(err).toMatchObject({ code: 'EBUSY', syscall: 'procEventsOpen' });
    r.close();
    expect(() => openProcEvents({ targets: [''] }, () => {})).toThrow(TypeError);
    expect(() => openProcEvents({ targets: ['a\0b'] }, () => {})).toThrow(TypeError);
    expect(() => openProcEvents({ targets: [], rcvbufBytes: -1 }, () => {})).toThrow(TypeError);
    expect(() => openProcEvents({ targets: [], rcvbufBytes: 1.5 }, () => {})).toThrow(TypeError);
    expect(() => openProcEvents({ targets: [], holdOffMs: -1 }, () => {})).toThrow(TypeError);
    expect(() => openProcEvents({ targets: [], holdOffMs: 2.5 }, () => {})).toThrow(TypeError);
    expect(() => openProcEvents({ targets: [], holdOffMs: 1001 }, () => {})).toThrow(TypeError);
    expect(() => owner().procEventsOpen(['a'], 2 ** 31, true, () => {})).toThrow(/^Usage: procEventsOpen/);
    expect(() => owner().procEventsOpen(['a'], 0, true, () => {}, 1001)).toThrow(/^Usage: procEventsOpen/);
    expect(() => owner().procEventsSetTargets(1, [7 as unknown as string])).toThrow(/^Usage: procEventsSetTargets/);
    expect(() => owner().procEventsStats(-1)).toThrow(/^Usage: procEventsStats/);
  });

  it('the raw stats: numbers while open, null for an id that is not open; holdOffMs 0 turns coalescing off', () => {
    const o = owner();
    expect(o.procEventsStats(0)).toBeNull();
    const opened = o.procEventsOpen(['x'], 0, true, () => {});
    expect(opened.holdOffMs).toBe(DEFAULT_HOLD_OFF_MS);
    expect(o.procEventsStats(opened.id)).toEqual({
      received: expect.any(Number), filtered: expect.any(Number), crossed: 0, overruns: 0, drains: expect.any(Number),
    });
    expect(o.procEventsStats(opened.id + 1)).toBeNull();
    o.procEventsClose(opened.id);
    expect(o.procEventsStats(opened.id)).toBeNull();
    const r = open({ targets: ['x'], holdOffMs: 0 });
    expect(r.handle.holdOffMs).toBe(0);
    expect(r.handle.stats()).toMatchObject({ crossed: 0, overruns: 0 });
    r.close();
  });

  it('the receive buffer: a request below the floor gets the floor, root may exceed rmem_max (SO_RCVBUFFORCE)', () => {
    const tiny = open({ targets: ['x'], rcvbufBytes: 1 });
    expect(tiny.handle.rcvbufBytes).toBeGreaterThan(1);
    expect(tiny.handle.rcvbufBytes).toBeLessThan(16 * 1024);
    tiny.close();
    const big = rmemMax * 2;
    const r = open({ targets: ['x'], rcvbufBytes: big });
    expect(r.handle.rcvbufBytes).toBe(isRoot ? big * 2 : rmemMax * 2); // the kernel doubles what it grants
    r.close();
  });

  it('probeProcEvents() opens and closes once', () => {
    const p = probeProcEvents();
    expect(p).toEqual({ ok: true, kernelFilter: kernel66, socketFilter: true });
    const r = open({ targets: ['x'] }); // the probe left nothing open
    r.close();
  });
});

describe.skipIf(nativeDisabled)('process connector: the event loop', () => {
  const prelude = `const addon = require(${JSON.stringify(join(ROOT, 'node_modules', 'node-gyp-build'))})(${JSON.stringify(ROOT)});
    addon.watcherStart(() => {});`;

  it('a process that opens then closes exits by itself; so does one that closes inside a batch', async () => {
    const r1 = await runNode(`addon.watcherStart(() => {}); const r = addon.procEventsOpen([], 0, true, () => {}); addon.procEventsClose(r.id);`);
    expect(r1).toMatchObject({ code: 0, signal: null, timedOut: false, stderr: '' });
    const r2 = await runNode(`
      addon.watcherStart(() => {});
      const r = addon.procEventsOpen(['sleep'], 0, true, (b) => {
        console.log(b.execs.map((e) => e.comm).join());
        addon.procEventsClose(r.id); addon.procEventsClose(r.id);
      });
      require('child_process').spawn('/bin/sleep', ['0.2']);`);
    expect(r2).toMatchObject({ code: 0, signal: null, timedOut: false, stderr: '', stdout: 'sleep\n' });
  });

  it('a process that opens and never closes stays alive (the connector holds the loop) until killed', async () => {
    const child = track(cpSpawn(process.execPath, ['-e', `${prelude} addon.procEventsOpen(['x'], 0, true, () => {}); console.log('open');`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    }));
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    const end = Date.now() + 10_000;
    while (out !== 'open\n' && Date.now() < end) await sleepMs(10);
    expect(out).toBe('open\n');
    await sleepMs(1500);
    expect(child.exitCode).toBeNull(); // an idle process with nothing else would have exited by now
    const gone = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_c, s) => res(s)));
    child.kill('SIGTERM');
    expect(await gone).toBe('SIGTERM');
  });

  it('worker threads each have their own connector; terminating one with the connector open is clean', async () => {
    const r = await runNode(`
      const { Worker } = require('worker_threads');
      addon.watcherStart(() => {});
      const main = addon.procEventsOpen(['x'], 0, true, () => {});
      const code = \`
        const { parentPort } = require('worker_threads');
        const addon = require(\${JSON.stringify(require.resolve('node-gyp-build', { paths: [process.cwd()] }))})(\${JSON.stringify(process.cwd())});
        addon.watcherStart(() => {});
        const r = addon.procEventsOpen([], 0, true, () => {});
        parentPort.postMessage(r.id);\`;
      const w = new Worker(code, { eval: true, cwd: ${JSON.stringify(ROOT)} });
      w.on('message', (id) => { console.log('worker open', id); setTimeout(() => w.terminate(), 20); });
      w.on('exit', () => { console.log('worker gone'); addon.procEventsClose(main.id); });`);
    expect(r).toMatchObject({ code: 0, signal: null, timedOut: false, stderr: '' });
    expect(r.stdout).toBe('worker open 1\nworker gone\n');
  });
});

const canUnshare = isRoot && spawnSync('unshare', ['-U', '-r', 'true']).status === 0;

describe.skipIf(nativeDisabled || !canUnshare)('process connector: namespaces report an error, never hang', () => {
  const script = `addon.watcherStart(() => {});
    try { addon.procEventsOpen([], 0, true, () => {}); console.log('opened'); }
    catch (e) { console.log(JSON.stringify({ errno: e.errno, syscall: e.syscall })); }`;

  it.each([
    ['a user namespace', ['-U', '-r'], { errno: 110, syscall: 'proc_connector_ack' }], // ETIMEDOUT: no ack
    ['a pid namespace', ['-p', '-f'], { errno: 110, syscall: 'proc_connector_ack' }],
    ['a network namespace', ['-n'], { errno: 111, syscall: 'sendto' }], // ECONNREFUSED: no connector there
  ])('in %s', async (_what, flags, expected) => {
    const t0 = Date.now();
    const r = await runNode(script, 25_000, 'pipe', ['unshare', ...flags]);
    expect(r).toMatchObject({ code: 0, signal: null, timedOut: false, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual(expected);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });
});

const USER = 'ffrtmp-test-cnproc';

describe.skipIf(nativeDisabled || !isRoot)('process connector: an unprivileged user', () => {
  let created = false;
  afterAll(() => {
    if (created) spawnSync('userdel', [USER]);
  });

  it('may listen (6.6+), with the kernel filter, and sees an exec', async () => {
    if (!kernel66) return; // before 6.6 bind needs CAP_NET_ADMIN (EPERM)
    spawnSync('userdel', [USER]); // a leftover of an interrupted run
    const add = spawnSync('useradd', ['-M', '-r', '-s', '/usr/sbin/nologin', USER], { encoding: 'utf8' });
    expect(add.stderr).toBe('');
    created = true;
    const uid = Number(execFileSync('id', ['-u', USER], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', USER], { encoding: 'utf8' }).trim());
    // The build directory may not be readable by that user: load a copy from a 0755 temp dir.
    const dir = tempDir();
    const addonPath = join(dir, 'ffrtmp.node');
    copyFileSync(join(ROOT, 'build', 'Release', 'ffrtmp.node'), addonPath);
    chmodSync(addonPath, 0o755);
    const target = program(dir, 'ffrtmp-cnp-u');
    const script = `
      const addon = require(${JSON.stringify(addonPath)});
      addon.watcherStart(() => {});
      const r = addon.procEventsOpen(['ffrtmp-cnp-u'], ${rmemMax * 2}, true, (b) => {
        const hit = b.execs.find((e) => e.pid === cp.pid);
        if (!hit) return;
        console.log(JSON.stringify({ uid: process.getuid(), opened: r, hit }));
        addon.procEventsClose(r.id);
        cp.kill();
      });
      const cp = require('child_process').spawn(${JSON.stringify(target)}, ['5'], { stdio: 'ignore' });`;
    const child = track(
      cpSpawn('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', process.execPath, '-e', script], {
        stdio: ['ignore', 'pipe', 'pipe'],
        cwd: dir,
      }),
    );
    let out = '';
    let errOut = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (errOut += d));
    const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    expect({ code, errOut }).toEqual({ code: 0, errOut: '' });
    const r = JSON.parse(out) as { uid: number; opened: { kernelFilter: boolean; socketFilter: boolean; rcvbufBytes: number }; hit: ProcExec };
    expect(r.uid).toBe(uid);
    expect(r.opened).toMatchObject({ kernelFilter: true, socketFilter: true, rcvbufBytes: rmemMax * 2 }); // no SO_RCVBUFFORCE: capped
    expect(r.hit.comm).toBe('ffrtmp-cnp-u');
  });
});
