/**
 * Each subcommand loads only its own code (and only its own command definition): `run`, `attach`
 * and `jobs` never load the HTTP server (nor http/https/zlib), prom-client, the adoption code or the queue client (bullmq); `doctor` loads no journal; `agent` and
 * `submit` check their command line before they load the queue client. Measured on the built CLI with a
 * preload that records, at exit, every module file in require.cache and every builtin loaded.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ffrtmp, killQuietly, testTempDir } from '../helpers';

const dir = testTempDir('lazy');
const hook = path.join(dir, 'record-loaded.js');
fs.writeFileSync(
  hook,
  `process.on('exit', () => require('fs').writeFileSync(process.env.LOADED_OUT, JSON.stringify({
     files: Object.keys(require.cache),
     builtins: process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13)),
   })));`,
);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function loaded(args: string[]): Promise<{ files: string[]; builtins: string[]; code: number | null }> {
  const out = path.join(dir, `loaded-${args[0]}-${Math.random().toString(16).slice(2)}.json`);
  const r = await ffrtmp(args, { env: { NODE_OPTIONS: `--require ${hook}`, LOADED_OUT: out } });
  const data = JSON.parse(fs.readFileSync(out, 'utf8')) as { files: string[]; builtins: string[] };
  return { ...data, code: r.code };
}

const rel = (files: string[]) => files.map((f) => f.replace(/^.*\/(dist|node_modules)\//, '$1/'));

describe('subcommand code is loaded only when it runs', () => {
  it('run -- true: no HTTP, no prom-client, no visibility, no adoption', async () => {
    const { files, builtins, code } = await loaded(['run', '--', 'true']);
    expect(code).toBe(0);
    const f = rel(files);
    expect(f).toContain('dist/core/run.js');
    expect(f.filter((x) => /prom-client|yaml|bullmq|ioredis|dist\/agent\/|dist\/visibility\/(server|metrics)|dist\/recover\/|dist\/watch\/|dist\/cli\/actions\/(serve|jobs|recover|doctor|attach|watch|agent|submit)/.test(x))).toEqual([]);
    // Only the run command's definition (src/cli/program.ts), and child_process only through commander.
    expect(f.filter((x) => /dist\/cli\/commands\//.test(x))).toEqual(['dist/cli/commands/run.js']);
    // (`net` is Node's own, for stdio pipes: not ours to avoid.)
    expect(builtins.filter((b) => /^(http|https|zlib|tls)$/.test(b))).toEqual([]);
  });

  it('attach: the same', async () => {
    const target = spawn('sleep', ['0.5'], { stdio: 'ignore' });
    try {
      const { files, builtins } = await loaded(['attach', '--pid', String(target.pid)]);
      const f = rel(files);
      expect(f).toContain('dist/core/attach.js');
      expect(f.filter((x) => /prom-client|yaml|bullmq|ioredis|dist\/agent\/|dist\/visibility\/(server|metrics)|dist\/recover\/|dist\/watch\/|dist\/cli\/actions\/(serve|run|jobs|watch)/.test(x))).toEqual([]);
      expect(f.filter((x) => /dist\/cli\/commands\//.test(x))).toEqual(['dist/cli/commands/attach.js']);
      expect(builtins.filter((b) => /^(http|https|zlib|tls)$/.test(b))).toEqual([]);
    } finally {
      killQuietly(target.pid);
    }
  });

  it('jobs: the journal reader only', async () => {
    const { files, builtins } = await loaded(['jobs']);
    const f = rel(files);
    expect(f).toContain('dist/journal/reader.js');
    expect(f.filter((x) => /prom-client|yaml|bullmq|ioredis|dist\/visibility\/(server|metrics)|dist\/core\/(run|attach)|dist\/cgroup\//.test(x))).toEqual([]);
    expect(builtins.filter((b) => /^(http|https|zlib|tls)$/.test(b))).toEqual([]);
  });

  it('watch --check-config: the settings loader, not the daemon, its endpoint or the connector', async () => {
    const { files, builtins, code } = await loaded(['watch', '--check-config', path.join(__dirname, '../../deployment/watch.yaml')]);
    expect(code).toBe(0);
    const f = rel(files);
    expect(f).toContain('dist/watch/config.js');
    expect(f.filter((x) => /prom-client|dist\/watch\/(daemon|server|metrics)|dist\/native\/proc-events|dist\/core\/run/.test(x))).toEqual([]);
    expect(builtins.filter((b) => /^(http|https)$/.test(b))).toEqual([]);
  });

  it('--help: commander and the command definitions, nothing of the product', async () => {
    const f = rel((await loaded(['--help'])).files);
    expect(f.filter((x) => /dist\/(core|cgroup|journal|recover|observer|native|agent)\/|prom-client|bullmq|ioredis/.test(x))).toEqual([]);
  });

  it('agent and submit with a bad command line: refused before the queue client is loaded', async () => {
    const agent = await loaded(['agent', '--queue', 'q']); // no --redis
    const submit = await loaded(['submit', '--redis', 'redis://127.0.0.1:1', '--queue', 'q', '--memory-max', '1000000', '--', 'true']);
    for (const r of [agent, submit]) {
      expect(r.code).toBe(2);
      expect(rel(r.files).filter((x) => /bullmq|ioredis|dist\/agent\/(agent|submit)\.js|dist\/core\/run/.test(x))).toEqual([]);
    }
  });
});
