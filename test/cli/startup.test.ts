/**
 * What a start costs, checked by what it loads and creates (its time is measured in
 * bench/startup, never asserted here): Node's compile cache goes only to a directory the user
 * owns, and only where Node has it; the first argument decides which command definition is
 * loaded, and help and errors are the same as with every command defined.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
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
      expect(fs.existsSync(path.join(home, '.cache'))).toBe(false);
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
