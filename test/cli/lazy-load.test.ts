/**
 * Each subcommand loads only its own code (and only its own command definition): `run`, `attach`
 * and `jobs` never load the HTTP server (nor http/https/zlib), prom-client, the adoption code or the queue client (bullmq); `doctor` loads no journal; `agent` and
 * `submit` check their command line before they load the queue client.
 *
 * Measured on the CLI as shipped: dist/cli/main.js and the bundle it loads (dist/cli/ffrtmp.js,
 * scripts/bundle-cli.js). A preload records, at exit, every file in require.cache (the bundle, the
 * addon, and any dependency left outside it: prom-client, bullmq...) and every builtin loaded. Which
 * of the modules inside the bundle were evaluated is read from V8's coverage (NODE_V8_COVERAGE):
 * esbuild wraps each module in a function named after its path (`"dist/core/run.js"(exports,
 * module) {...}`), called on the module's first require(); a count above 0 means it was loaded.
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

interface Coverage {
  result: { url: string; functions: { functionName: string; ranges: { count: number }[] }[] }[];
}

/** The modules evaluated inside the bundle, as `dist/...` and `node_modules/...` paths. */
function evaluatedInBundle(coverageDir: string): string[] {
  const out: string[] = [];
  for (const f of fs.readdirSync(coverageDir)) {
    const cov = JSON.parse(fs.readFileSync(path.join(coverageDir, f), 'utf8')) as Coverage;
    for (const script of cov.result.filter((s) => s.url.endsWith('/dist/cli/ffrtmp.js'))) {
      if ((script.functions[0]?.ranges[0]?.count ?? 0) > 0) out.push('dist/cli/ffrtmp.js'); // the bundle itself ran
      for (const fn of script.functions) {
        if (/^(dist|node_modules)\//.test(fn.functionName) && (fn.ranges[0]?.count ?? 0) > 0) out.push(fn.functionName);
      }
    }
  }
  return out;
}

async function loaded(args: string[]): Promise<{ files: string[]; ownFiles: string[]; builtins: string[]; code: number | null }> {
  const tag = `${args[0]}-${Math.random().toString(16).slice(2)}`;
  const out = path.join(dir, `loaded-${tag}.json`);
  const coverage = path.join(dir, `coverage-${tag}`);
  const r = await ffrtmp(args, { env: { NODE_OPTIONS: `--require ${hook}`, LOADED_OUT: out, NODE_V8_COVERAGE: coverage } });
  const data = JSON.parse(fs.readFileSync(out, 'utf8')) as { files: string[]; builtins: string[] };
  const ownFiles = data.files.filter((f) => f !== hook && !f.includes('/node_modules/'));
  return { files: [...data.files, ...evaluatedInBundle(coverage)], ownFiles, builtins: data.builtins, code: r.code };
}

const rel = (files: string[]) => files.map((f) => f.replace(/^.*\/(dist|node_modules)\//, '$1/'));

describe('subcommand code is loaded only when it runs', () => {
  it('run -- true: no HTTP, no prom-client, no visibility, no adoption', async () => {
    const { files, ownFiles, builtins, code } = await loaded(['run', '--', 'true']);
    expect(code).toBe(0);
    // Through Node's module loader: the executable (itself bundled with its two helpers) and the
    // addon; the bundle is run by src/cli/code-cache.ts, so it is not in require.cache (its modules
    // are counted from the coverage). Not the ~80 module files tsc emits.
    expect(rel(ownFiles).map((x) => x.replace(/^.*\/(build|prebuilds)\//, '$1/')).sort()).toEqual([
      expect.stringMatching(/^(build\/Release\/ffrtmp\.node|prebuilds\/linux-\w+\/ffrtmp\.glibc\.node)$/),
      'dist/cli/main.js',
    ]);
    expect(rel(files)).toContain('dist/cli/ffrtmp.js'); // the bundle ran (from the coverage)
    const f = rel(files);
    expect(f).toContain('dist/core/run.js');
    expect(f.filter((x) => /prom-client|yaml|bullmq|ioredis|dist\/agent\/|dist\/visibility\/(server|metrics)|dist\/recover\/|dist\/watch\/|dist\/cli\/actions\/(serve|jobs|recover|doctor|attach|watch|agent|submit)/.test(x))).toEqual([]);
    // Only the run command's definition (src/cli/program.ts).
    expect(f.filter((x) => /dist\/cli\/commands\//.test(x))).toEqual(['dist/cli/commands/run.js']);
    // No child_process: neither the polling fallback's (required when it spawns) nor commander's
    // (made lazy by scripts/bundle-cli.js). (`net` is Node's own, for stdio pipes: not ours to avoid.)
    expect(builtins.filter((b) => /^(http|https|zlib|tls|child_process)$/.test(b))).toEqual([]);
  });

  it('attach: the same', async () => {
    const target = spawn('sleep', ['0.5'], { stdio: 'ignore' });
    try {
      const { files, builtins } = await loaded(['attach', '--pid', String(target.pid)]);
      const f = rel(files);
      expect(f).toContain('dist/core/attach.js');
      expect(f.filter((x) => /prom-client|yaml|bullmq|ioredis|dist\/agent\/|dist\/visibility\/(server|metrics)|dist\/recover\/|dist\/watch\/|dist\/cli\/actions\/(serve|run|jobs|watch)/.test(x))).toEqual([]);
      expect(f.filter((x) => /dist\/cli\/commands\//.test(x))).toEqual(['dist/cli/commands/attach.js']);
      expect(builtins.filter((b) => /^(http|https|zlib|tls|child_process)$/.test(b))).toEqual([]);
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
