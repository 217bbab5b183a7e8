/**
 * One N-API build for every supported Node: which addon this Node loaded, and what differs
 * between the Node lines that ffrtmp relies on. Runs in npm test (the machine's Node, the
 * addon it built) and in test/node-versions/run.sh (each pinned Node, the shipped prebuild).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

import { describe, expect, it } from 'vitest';

import { loadNative } from '../../src/native/load';
import { selectObserver } from '../../src/observer/select';
import { ROOT } from '../helpers';

const major = Number(process.versions.node.split('.')[0]);

describe(`Node ${process.version} (ABI ${process.versions.modules}, N-API ${process.versions.napi})`, () => {
  it('is the Node this run was started for, and a supported one', () => {
    if (process.env.FFRTMP_EXPECT_NODE) expect(process.versions.node).toBe(process.env.FFRTMP_EXPECT_NODE);
    const engines = (JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { engines: { node: string } }).engines.node;
    expect(engines).toBe('^20.17.0 || ^22.11.0 || >=24.0.0');
    expect([20, 22].includes(major) || major >= 24).toBe(true);
    expect(Number(process.versions.napi)).toBeGreaterThanOrEqual(8); // binding.gyp: NAPI_VERSION=8
  });

  it('loads the one addon build, byte for byte, whatever its ABI', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const path = (require('node-gyp-build') as { resolve(dir: string): string }).resolve(ROOT);
    if (process.env.FFRTMP_EXPECT_ADDON) {
      expect(path).toBe(process.env.FFRTMP_EXPECT_ADDON);
      expect(createHash('sha256').update(readFileSync(path)).digest('hex')).toBe(process.env.FFRTMP_EXPECT_ADDON_SHA256);
    }
    const loaded = loadNative();
    expect(loaded.available ? 'loaded' : loaded.reason).toBe('loaded');
    expect(Object.keys(require.cache)).toContain(path);
  });

  it('a watch is disposable here: Symbol.dispose exists (Node defines it before V8 does) and `using` ends the watch', async () => {
    expect(typeof Symbol.dispose).toBe('symbol');
    const observer = selectObserver();
    expect(observer.backend).toBe('pidfd');
    const child = await observer.spawn({ command: 'sh', args: ['-c', 'exit 3'], cwd: null, env: process.env });
    let end;
    {
      using watch = child.watch;
      end = await watch.exited;
    }
    expect(end.status).toMatchObject({ exit_code: 3, signal: null });
  });

  it('a worker thread gets its own addon instance, watcher thread and TSFN, and exits by itself once unwatched', async () => {
    const code = `
      const { parentPort } = require('node:worker_threads');
      const { spawn } = require('node:child_process');
      const { loadNative } = require(${JSON.stringify(`${ROOT}/dist/native/load.js`)});
      const r = loadNative();
      if (!r.available) throw new Error(r.reason);
      const n = r.native;
      const child = spawn('sleep', ['0.2'], { stdio: 'ignore' });
      const fd = n.pidfdOpen(child.pid);
      const sub = n.subscribe(fd, (events) => {
        sub.close();
        n.closeFd(fd);
        parentPort.postMessage({ events, watched: n.watchCount() });
      });`;
    const w = new Worker(code, { eval: true });
    const exited = new Promise((resolve) => w.once('exit', resolve));
    const msg = await new Promise<{ events: number; watched: number }>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    expect(msg.events & 0x1).toBe(0x1); // EPOLLIN: the exit, delivered on the worker's own loop
    expect(msg.watched).toBe(0);
    expect(await exited).toBe(0); // nothing keeps its loop alive once unwatched
  });
});
