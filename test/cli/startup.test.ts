/**
 * What a start costs, checked by what it loads and creates (its time is measured in
 * bench/startup, never asserted here): Node's compile cache and our code cache of the bundle go
 * only to a directory the user owns (Node's only where Node has it); a code cache is used only
 * by the bundle it was made from, and a bad one is replaced, never trusted; the first argument
 * decides which command definition is loaded, and help and errors are the same as with every
 * command defined.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CACHED_COMMANDS, codeCacheFile } from '../../src/cli/code-cache';
import { compileCacheDir } from '../../src/cli/compile-cache';
import { ffrtmp, testTempDir } from '../helpers';

const dir = testTempDir('startup');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const euid = process.geteuid!();
const nodeHasCompileCache = typeof (require('node:module') as { enableCompileCache?: unknown }).enableCompileCache === 'function';

describe('compile cache directory', () => {
  it('XDG_CACHE_HOME first, then HOME/.cache; only an absolute directory of our own', () => {
    const home = fs.mkdtempSync(path.join(dir, 'home-'));
    const xdg = fs.mkdtempSync(path.join(dir, 'xdg-'));
    expect(compileCacheDir({ HOME: home }, euid)).toBe(path.join(home, '.cache', 'ffrtmp', 'compile-cache'));
    expect(compileCacheDir({ HOME: home, XDG_CACHE_HOME: xdg }, euid)).toBe(path.join(xdg, 'ffrtmp', 'compile-cache'));
    expect(compileCacheDir({ HOME: home, XDG_CACHE_HOME: 'relative/cache' }, euid)).toBe(path.join(home, '.cache', 'ffrtmp', 'compile-cache'));
    expect(compileCacheDir({}, euid)).toBeNull(); // a service without HOME: no cache
    expect(compileCacheDir({ HOME: 'relative' }, euid)).toBeNull();
    expect(compileCacheDir({ HOME: path.join(home, 'missing') }, euid)).toBeNull();
    expect(compileCacheDir({ HOME: home }, euid + 1)).toBeNull(); // someone else's (sudo keeping HOME)
    const file = path.join(home, 'file');
    fs.writeFileSync(file, '');
    expect(compileCacheDir({ HOME: file }, euid)).toBeNull();
  });

  it.runIf(euid === 0)('a home owned by another user is not used (root never reads cache another user could write)', () => {
    const other = fs.mkdtempSync(path.join(dir, 'other-'));
    fs.chownSync(other, 65534, 65534);
    expect(compileCacheDir({ HOME: other }, 0)).toBeNull();
    expect(compileCacheDir({ HOME: other }, 65534)).toBe(path.join(other, '.cache', 'ffrtmp', 'compile-cache'));
  });

  it(`the CLI ${nodeHasCompileCache ? 'fills' : 'leaves alone (this Node has no module.enableCompileCache)'} $HOME/.cache/ffrtmp; NODE_DISABLE_COMPILE_CACHE and a foreign HOME get nothing`, async () => {
    const home = fs.mkdtempSync(path.join(dir, 'cli-home-'));
    const r = await ffrtmp(['--version'], { env: { HOME: home, XDG_CACHE_HOME: '', NODE_COMPILE_CACHE: '' } });
    expect(r.code).toBe(0);
    const cache = path.join(home, '.cache', 'ffrtmp', 'compile-cache');
    if (nodeHasCompileCache) {
      expect(fs.readdirSync(cache).length).toBeGreaterThan(0); // one subdirectory per Node version
    } else {
      expect(fs.existsSync(cache)).toBe(false);
    }
    const off = fs.mkdtempSync(path.join(dir, 'cli-off-'));
    expect((await ffrtmp(['--version'], { env: { HOME: off, NODE_DISABLE_COMPILE_CACHE: '1', NODE_COMPILE_CACHE: '' } })).code).toBe(0);
    expect(fs.readdirSync(off)).toEqual([]);
    if (euid === 0) {
      const foreign = fs.mkdtempSync(path.join(dir, 'cli-foreign-'));
      fs.chownSync(foreign, 65534, 65534);
      expect((await ffrtmp(['--version'], { env: { HOME: foreign, NODE_COMPILE_CACHE: '' } })).code).toBe(0);
      expect(fs.readdirSync(foreign)).toEqual([]);
    }
  });
});

describe('the code cache of the CLI bundle', () => {
  const bundle = path.join(__dirname, '../../dist/cli/ffrtmp.js');
  const id = /^\/\/ ffrtmp-cli-bundle ([0-9a-f]{16})\n/.exec(fs.readFileSync(bundle, 'latin1').slice(0, 64))?.[1];

  it('is keyed by the bundle (the id on its first line), the Node, the arch and the command', () => {
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    const home = fs.mkdtempSync(path.join(dir, 'cc-key-'));
    const env = { HOME: home };
    const file = (src: string, cmd?: string) => codeCacheFile(src, cmd, env, euid);
    const a = `// ffrtmp-cli-bundle ${'a'.repeat(16)}\nx()`;
    const b = `// ffrtmp-cli-bundle ${'b'.repeat(16)}\nx()`; // same length: V8 alone would take a's code
    expect(file(a, 'run')).toBe(path.join(home, '.cache', 'ffrtmp', 'code-cache', `${'a'.repeat(16)}-${process.version}-${process.arch}-run.v8`));
    expect(file(b, 'run')).not.toBe(file(a, 'run'));
    for (const c of CACHED_COMMANDS) expect(file(a, c)).toMatch(new RegExp(`-${c}\\.v8$`));
    for (const c of [undefined, '--help', 'atach', '../../etc']) expect(file(a, c)).toMatch(/-other\.v8$/);
    expect(file('x()', 'run')).toBeNull(); // no id: no cache
    expect(codeCacheFile(a, 'run', { HOME: home, NODE_DISABLE_COMPILE_CACHE: '1' }, euid)).toBeNull();
    expect(codeCacheFile(a, 'run', { HOME: home, NODE_V8_COVERAGE: dir }, euid)).toBeNull();
    expect(codeCacheFile(a, 'run', { HOME: home }, euid + 1)).toBeNull(); // someone else's HOME
  });

  it('every command has its own cache (the list matches the commands the CLI has)', async () => {
    const help = await ffrtmp(['--help']);
    const listed = [...help.stdout.matchAll(/^ {2}([a-z]+) /gm)].map((m) => m[1]).filter((c) => c !== 'help');
    expect([...CACHED_COMMANDS].sort()).toEqual(listed.sort());
  });

  it('the first run of a command writes it (0600, in a 0700 directory); the next runs use it as it is', async () => {
    const home = fs.mkdtempSync(path.join(dir, 'cc-home-'));
    const state = fs.mkdtempSync(path.join(dir, 'cc-state-'));
    const env = { HOME: home, XDG_CACHE_HOME: '', NODE_V8_COVERAGE: '', NODE_DISABLE_COMPILE_CACHE: '' };
    const first = await ffrtmp(['run', '--state-dir', state, '--', 'true'], { env });
    expect(first.code).toBe(0);
    const file = path.join(home, '.cache', 'ffrtmp', 'code-cache', `${id}-${process.version}-${process.arch}-run.v8`);
    const st = fs.statSync(file);
    expect(st.mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(st.size).toBeGreaterThan(10_000);
    expect(fs.readdirSync(path.dirname(file))).toEqual([path.basename(file)]); // no temp file left
    const second = await ffrtmp(['run', '--state-dir', state, '--', 'sh', '-c', 'exit 3'], { env });
    expect(second.code).toBe(3);
    expect(second.stderr).toMatch(/reason=workload_failed_platform_ok .*exit=3 /);
    // Accepted by V8 and so not made again: the same file, untouched.
    const again = fs.statSync(file);
    expect([again.ino, again.mtimeMs]).toEqual([st.ino, st.mtimeMs]);
    // another command gets its own
    expect((await ffrtmp(['jobs', '--state-dir', state], { env })).code).toBe(0);
    expect(fs.readdirSync(path.dirname(file)).sort()).toEqual([path.basename(file), path.basename(file).replace(/-run\.v8$/, '-jobs.v8')].sort());
  });

  it('a cache V8 refuses (corrupt, or from another V8) changes nothing for the command, and is made again', async () => {
    const home = fs.mkdtempSync(path.join(dir, 'cc-bad-'));
    const state = fs.mkdtempSync(path.join(dir, 'cc-bad-state-'));
    const file = path.join(home, '.cache', 'ffrtmp', 'code-cache', `${id}-${process.version}-${process.arch}-run.v8`);
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const garbage = Buffer.alloc(64 * 1024, 0x5a);
    fs.writeFileSync(file, garbage, { mode: 0o600 });
    const r = await ffrtmp(['run', '--state-dir', state, '--', 'true'], { env: { HOME: home, XDG_CACHE_HOME: '', NODE_V8_COVERAGE: '' } });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^JOB run-\S+ \| sla=COMPLIANT \| reason=completed_successfully /);
    expect(fs.readFileSync(file).equals(garbage)).toBe(false);
  });
});

describe('one command definition per start', () => {
  it('a mistyped command still gets "did you mean" from the full list; `help run` still works', async () => {
    const typo = await ffrtmp(['atach', '--pid', '1']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toBe("ffrtmp: unknown command 'atach', did you mean attach? (see ffrtmp --help)\n");
    const help = await ffrtmp(['help', 'run']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: ffrtmp run [options] -- <command> [args...]');
    const top = await ffrtmp(['--help']);
    for (const c of ['run', 'attach', 'doctor', 'serve', 'watch', 'jobs', 'recover', 'agent', 'submit']) expect(top.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
  });
});
