/**
 * The package as a user gets it (docs/shipping.md): `npm pack` of this clone, its file list, then
 * installed into a fresh prefix by an npm whose PATH has no compiler (no g++, cc, make, python3),
 * where `ffrtmp doctor` and `ffrtmp run` must find the native backend and the keeper in the
 * prebuilds, with nothing compiled; the package's types and exports, compiled by tsc for a
 * consumer with moduleResolution node16 and bundler; and "are the types wrong" and publint on the
 * tarball.
 *
 * Needs current prebuilds for both arches (npm run build:prebuilds): run by test/ship/run.sh,
 * not by npm test.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ROOT, parseJsonLines, testTempDir } from '../helpers';

const tmp = testTempDir('package');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface PackFile {
  path: string;
  mode: number;
}
let tarball = '';
let files: PackFile[] = [];

/** The absolute path of `cmd` on the PATH of this test process (the machine's own). */
function which(cmd: string): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, cmd);
    if (dir !== '' && existsSync(p) && statSync(p).isFile()) return p;
  }
  throw new Error(`${cmd} is not on PATH`);
}

const NPM_CACHE = execFileSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8' }).trim();

beforeAll(() => {
  // The real thing: prepack checks the prebuilds, prepare builds dist/.
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [info] = JSON.parse(out.slice(out.indexOf('['))) as Array<{ filename: string; files: PackFile[] }>;
  tarball = join(tmp, info.filename);
  files = info.files;
}, 240_000);

describe('the tarball', () => {
  it('holds dist, the binding sources and both prebuilds with their keeper, and nothing else', () => {
    const paths = files.map((f) => f.path);
    const mode = (p: string) => files.find((f) => f.path === p)?.mode ?? 0;
    for (const arch of ['x64', 'arm64']) {
      expect(paths).toContain(`prebuilds/linux-${arch}/ffrtmp.glibc.node`);
      expect(paths).toContain(`prebuilds/linux-${arch}/ffrtmp-keeper`);
      expect(mode(`prebuilds/linux-${arch}/ffrtmp-keeper`) & 0o111).toBe(0o111);
    }
    for (const f of ['package.json', 'README.md', 'LICENSE', 'binding.gyp', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'dist/cli/ffrtmp.js']) expect(paths).toContain(f);
    // what a node installs from the version it runs (docs/edge-deployment.md): the installer, units, env examples
    expect(paths.filter((p) => p.startsWith('deployment/')).sort()).toEqual(
      execFileSync('git', ['ls-files', 'deployment'], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').filter((p) => !/\.test\./.test(p)).sort(),
    );
    expect(paths).toContain('deployment/install-edge.sh');
    expect(mode('deployment/install-edge.sh') & 0o111).toBe(0o111);
    expect(mode('dist/cli/main.js') & 0o111).toBe(0o111);
    // every source of the source build (the fallback), and nothing more there
    expect(paths.filter((p) => p.startsWith('native/')).sort()).toEqual(readdirSync(join(ROOT, 'native')).map((f) => `native/${f}`).sort());
    // an allow-list: tests, benches and their results, docs sources, .vm/, build/, src/, CI files,
    // logs, tarballs and whatever else lies in a clone stay out
    const unexpected = paths.filter((p) => !/^(dist\/.+\.(js|d\.ts)|native\/[^/]+|prebuilds\/linux-(x64|arm64)\/[^/]+|deployment\/.+|package\.json|README\.md|LICENSE|binding\.gyp)$/.test(p));
    expect(unexpected).toEqual([]);
    expect(paths.filter((p) => /\.test\.|(^|\/)(test|bench|build|\.vm|src)\//.test(p))).toEqual([]);
    // the tarball is what npm listed
    const entries = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n').filter((e) => !e.endsWith('/'));
    expect(entries.map((e) => e.replace(/^package\//, '')).sort()).toEqual([...paths].sort());
  });
});

describe('installed where there is no compiler', () => {
  const bin = join(tmp, 'bin');
  const prefix = join(tmp, 'prefix');
  const installed = join(prefix, 'lib', 'node_modules', 'ffrtmp');
  let env: NodeJS.ProcessEnv = {};
  let installLog = '';

  beforeAll(() => {
    // A PATH of symlinks to exactly what npm and ffrtmp need: node, npm, a shell, env (npm's
    // shebang) and `true` (the workload below).
    mkdirSync(bin);
    for (const cmd of ['node', 'npm', 'sh', 'env', 'true']) symlinkSync(which(cmd), join(bin, cmd));
    const home = join(tmp, 'home');
    mkdirSync(home);
    env = {
      PATH: [join(prefix, 'bin'), bin].join(delimiter),
      HOME: home, // no ~/.npmrc: nothing of this machine's npm settings (e.g. nodedir)
      TMPDIR: process.env.TMPDIR,
      npm_config_cache: NPM_CACHE, // the dependencies from the cache npm ci filled (else the registry)
      FFRTMP_CGROUP_ROOT: process.env.FFRTMP_CGROUP_ROOT, // the test run's private cgroup root
    };
    const r = spawnSync(
      join(bin, 'npm'),
      ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts', '--loglevel=info', tarball],
      { cwd: tmp, env, encoding: 'utf8', timeout: 180_000 },
    );
    installLog = `${r.stdout}\n${r.stderr}`;
    if (r.status !== 0) throw new Error(`npm install -g failed (${r.status ?? r.signal}):\n${installLog}`);
  }, 240_000);

  it('has no compiler on its PATH', () => {
    for (const cmd of ['g++', 'gcc', 'cc', 'c++', 'make', 'python3', 'python', 'node-gyp']) {
      const r = spawnSync(join(bin, 'sh'), ['-c', `command -v ${cmd}`], { env, encoding: 'utf8' });
      expect({ cmd, found: r.stdout.trim() }).toEqual({ cmd, found: '' });
    }
  });

  it('installs without compiling: the install script found the prebuild, no build/ directory', () => {
    // npm ran our install script (node-gyp-build), which loads the prebuild and exits 0 ...
    expect(installLog).toMatch(/npm info run ffrtmp@[^ ]+ install node_modules\/ffrtmp node-gyp-build/);
    expect(installLog).toMatch(/npm info run ffrtmp@[^ ]+ install \{ code: 0, signal: null \}/);
    // ... and never reached node-gyp (which would have failed here: no make, no g++)
    expect(installLog).not.toMatch(/gyp info|node-gyp rebuild|gyp ERR/);
    expect(existsSync(join(installed, 'build'))).toBe(false);
    expect(readdirSync(join(installed, 'prebuilds')).sort()).toEqual(['linux-arm64', 'linux-x64']);
  });

  it('ffrtmp doctor: native addon loaded, pidfd observer, the keeper from the prebuild', () => {
    const r = spawnSync('ffrtmp', ['doctor'], { env, encoding: 'utf8', timeout: 60_000 });
    const out = r.stdout + r.stderr;
    expect(out).toMatch(/^ok +native addon: loaded$/m);
    expect(out).toMatch(/^observer pidfd /m);
    expect(out).toContain(`ok    keeper: ${join(installed, 'prebuilds', `linux-${process.arch}`, 'ffrtmp-keeper')} (protocol 1)`);
    expect(out).not.toMatch(/^MISS /m);
  });

  it('ffrtmp run -- true: under the keeper, exit 0, the Result as it would be anywhere', () => {
    const state = join(tmp, 'state');
    const r = spawnSync('ffrtmp', ['run', '--state-dir', state, '--json', '--', 'true'], { env, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    const [result] = parseJsonLines(r.stderr);
    expect(result).toMatchObject({ exit_code: 0, exit_source: 'keeper', platform_sla_reason: 'completed_successfully' });
    expect((result.keeper as { pid: unknown }).pid).toEqual(expect.any(Number));
  });
});

describe('the types, for a TypeScript consumer of the installed package', () => {
  const consumer = join(tmp, 'consumer');
  const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

  beforeAll(() => {
    const installed = join(tmp, 'prefix', 'lib', 'node_modules', 'ffrtmp');
    mkdirSync(join(consumer, 'node_modules', '@types'), { recursive: true });
    symlinkSync(installed, join(consumer, 'node_modules', 'ffrtmp'));
    symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(consumer, 'node_modules', '@types', 'node'));
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'commonjs' }));
    // What a consumer writes; @ts-expect-error lines fail the compile if they do NOT error, so
    // the types cannot silently be `any`, and a deep import must be refused by `exports`.
    const body = (from: string) => `
import { run, parseLimits, summaryLine, validateJobId, type Result, type RunSpec } from ${from};
const spec: RunSpec = { command: 'true', jobId: validateJobId('consumer-1'), governance: { limits: parseLimits({ cpuQuota: '50' }) } };
export async function go(): Promise<string> {
  const r: Result = await run(spec);
  return summaryLine(r);
}
// @ts-expect-error: command is a string
export const bad: RunSpec = { command: 42 };
`;
    writeFileSync(join(consumer, 'cjs.cts'), `${body("'ffrtmp'")}\n// @ts-expect-error: dist/ is not part of the API\nimport type {} from 'ffrtmp/dist/core/run';\n`);
    writeFileSync(join(consumer, 'esm.mts'), `${body("'ffrtmp'")}\n// @ts-expect-error: dist/ is not part of the API\nimport type {} from 'ffrtmp/dist/core/run';\n`);
    writeFileSync(join(consumer, 'bundler.ts'), `${body("'ffrtmp'")}\n// @ts-expect-error: dist/ is not part of the API\nimport type {} from 'ffrtmp/dist/core/run';\n`);
    const base = { strict: true, noEmit: true, skipLibCheck: false, types: ['node'], target: 'es2022' };
    writeFileSync(join(consumer, 'tsconfig.node16.json'), JSON.stringify({ compilerOptions: { ...base, module: 'node16', moduleResolution: 'node16' }, files: ['cjs.cts', 'esm.mts'] }));
    writeFileSync(join(consumer, 'tsconfig.bundler.json'), JSON.stringify({ compilerOptions: { ...base, module: 'esnext', moduleResolution: 'bundler' }, files: ['bundler.ts'] }));
    chmodSync(consumer, 0o755);
  });

  it.each(['node16', 'bundler'])('compiles with moduleResolution %s, against the installed package', (mode) => {
    const r = spawnSync(process.execPath, [TSC, '-p', `tsconfig.${mode}.json`], { cwd: consumer, encoding: 'utf8', timeout: 120_000 });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 150_000);

  it('loads from ESM and CommonJS at run time: named exports, the package.json subpath, no deep import', () => {
    const script = `
      import { run, summaryLine } from 'ffrtmp';
      import { createRequire } from 'node:module';
      const require = createRequire(import.meta.url);
      const cjs = require('ffrtmp');
      let deep = 'resolved';
      try { require.resolve('ffrtmp/dist/core/run'); } catch (e) { deep = e.code; }
      console.log(JSON.stringify({ esm: typeof run + typeof summaryLine, same: cjs.run === run, version: require('ffrtmp/package.json').version, deep }));`;
    writeFileSync(join(consumer, 'load.mjs'), script);
    const r = spawnSync(process.execPath, ['load.mjs'], { cwd: consumer, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({
      esm: 'functionfunction',
      same: true,
      version: JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version,
      deep: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
    });
  });
});

describe('the community linters, on the tarball', () => {
  it('"are the types wrong" (attw): every entry resolves to its types under node10, node16 (CJS and ESM) and bundler', () => {
    const attw = join(ROOT, 'node_modules', '@arethetypeswrong', 'cli', 'dist', 'index.js');
    const r = spawnSync(process.execPath, [attw, tarball, '--format', 'json'], { cwd: tmp, encoding: 'utf8', timeout: 120_000 });
    const out = JSON.parse(r.stdout) as { analysis: { problems: unknown[]; entrypoints: Record<string, unknown> } };
    expect(out.analysis.problems).toEqual([]);
    expect(Object.keys(out.analysis.entrypoints).sort()).toEqual(['.', './package.json']);
    expect(r.status).toBe(0);
  }, 150_000);

  it('publint (strict): no error, warning or suggestion about the package as packed', () => {
    const unpacked = join(tmp, 'unpacked');
    mkdirSync(unpacked, { recursive: true });
    execFileSync('tar', ['-xzf', tarball, '-C', unpacked]);
    const publint = join(ROOT, 'node_modules', 'publint', 'src', 'cli.js');
    const r = spawnSync(process.execPath, [publint, join(unpacked, 'package'), '--pack', 'false', '--strict'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.stdout).toMatch(/All good!/);
    expect(r.status).toBe(0);
  }, 150_000);
});
