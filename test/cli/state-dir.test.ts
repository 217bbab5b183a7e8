/**
 * An explicit state dir (--state-dir, or FFRTMP_STATE_DIR) that cannot be used is a usage error:
 * exit 2, one line, nothing started or created. `run`, `attach`, `recover` need to write it;
 * `jobs` (and `recover --dry-run`) need to read it, and a missing one is an empty journal.
 * (The default state dir may still be unwritable: the workload runs and stderr says the Result
 * was not persisted, test/visibility/run-journal.test.ts.)
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, ffrtmp, killQuietly, testTempDir } from '../helpers';

const tmp = testTempDir('state-dir');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const marker = path.join(tmp, 'must-not-exist');
const aFile = path.join(tmp, 'a-file');
fs.writeFileSync(aFile, 'not a directory\n');

const isRoot = process.geteuid?.() === 0;
const canUnshare = isRoot && spawnSync('unshare', ['-m', 'true'], { stdio: 'ignore' }).status === 0;
const canSetpriv = isRoot && spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'true'], { stdio: 'ignore' }).status === 0;

/** Exactly one stderr line, `ffrtmp: `-prefixed; returns it. */
function oneLine(stderr: string): string {
  const lines = stderr.split('\n');
  expect(lines.at(-1)).toBe('');
  expect(lines.slice(0, -1), stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^ffrtmp: /);
  return lines[0]!;
}

describe('run with an explicit state dir that cannot be used: exit 2, one line, the workload never starts', () => {
  it.each([
    ['under /proc', '/proc/x', "--state-dir /proc/x cannot be used: it does not exist and cannot be created in /proc: no such file or directory (ENOENT)"],
    ['a regular file', aFile, `--state-dir ${aFile} cannot be used: it is not a directory`],
    ['below a regular file', path.join(aFile, 'sub'), `--state-dir ${path.join(aFile, 'sub')} cannot be used: a component of the path is not a directory (ENOTDIR)`],
    ['sysfs (exists, takes no files)', '/sys/kernel', '--state-dir /sys/kernel cannot be used: cannot write in it: permission denied (EACCES)'],
    ['empty', '', '--state-dir must not be empty'],
  ])('%s', async (_name, dir, message) => {
    const r = await ffrtmp(['run', '--state-dir', dir, '--', 'touch', marker]);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toBe(`ffrtmp: ${message}`);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('FFRTMP_STATE_DIR counts as explicit: the message names it', async () => {
    const r = await ffrtmp(['run', '--', 'touch', marker], { env: { FFRTMP_STATE_DIR: '/proc/x' } });
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toBe('ffrtmp: FFRTMP_STATE_DIR=/proc/x cannot be used: it does not exist and cannot be created in /proc: no such file or directory (ENOENT)');
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('a long unusable path is cut short in the message', async () => {
    const dir = `/proc/${'p'.repeat(3000)}`;
    const r = await ffrtmp(['run', '--state-dir', dir, '--', 'touch', marker]);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toMatch(/^ffrtmp: --state-dir "\/proc\/p+…" \(3006 characters\) cannot be used: /);
  });

  it('a bad flag with a bad state dir still gets one line: the flag is checked first', async () => {
    const r = await ffrtmp(['run', '--state-dir', '/proc/x', '--job-id', 'a/b', '--', 'touch', marker]);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toMatch(/^ffrtmp: job id "a\/b" is not allowed/);
  });

  it.skipIf(!canUnshare)('a read-only mount', () => {
    const mnt = fs.mkdtempSync(path.join(tmp, 'mnt-'));
    const r = spawnSync('unshare', ['-m', 'sh', '-ec', `
      mount -t tmpfs -o size=1m tmpfs "$MNT"; mkdir "$MNT/state"; mount -o remount,ro "$MNT"
      set +e; "$NODE" "$CLI" run --state-dir "$MNT/state" -- touch "$MARKER"; echo "@rc $?"
      "$NODE" "$CLI" run --state-dir "$MNT/state/new" -- touch "$MARKER"; echo "@rc $?"`], {
      env: { ...process.env, MNT: mnt, NODE: process.execPath, CLI, MARKER: marker },
      encoding: 'utf8',
    });
    expect(r.stdout).toBe('@rc 2\n@rc 2\n');
    expect(r.stderr).toBe(
      `ffrtmp: --state-dir ${mnt}/state cannot be used: cannot write in it: read-only file system (EROFS)\n` +
        `ffrtmp: --state-dir ${mnt}/state/new cannot be used: it does not exist and cannot be created in ${mnt}/state: read-only file system (EROFS)\n`,
    );
    expect(fs.existsSync(marker)).toBe(false);
  });

  it.skipIf(!canSetpriv)('a directory we may not write (an unprivileged user, a root-owned 0755 dir)', () => {
    const shared = fs.mkdtempSync(path.join(tmp, 'shared-'));
    fs.chmodSync(tmp, 0o755);
    fs.chmodSync(shared, 0o755);
    const as = (args: string[]) =>
      spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, ...args], { encoding: 'utf8', env: { ...process.env, HOME: '/nonexistent' } });
    const r = as(['run', '--state-dir', shared, '--', 'true']);
    expect(r.status).toBe(2);
    expect(oneLine(r.stderr)).toBe(`ffrtmp: --state-dir ${shared} cannot be used: cannot write in it: permission denied (EACCES)`);
    const sub = as(['run', '--state-dir', path.join(shared, 'new'), '--', 'true']);
    expect(sub.status).toBe(2);
    expect(oneLine(sub.stderr)).toBe(`ffrtmp: --state-dir ${path.join(shared, 'new')} cannot be used: it does not exist and cannot be created in ${shared}: permission denied (EACCES)`);
    const closed = fs.mkdtempSync(path.join(tmp, 'closed-')); // 0700: not even listable
    const jobs = as(['jobs', '--state-dir', closed]);
    expect(jobs.status).toBe(2);
    expect(oneLine(jobs.stderr)).toBe(`ffrtmp: --state-dir ${closed} cannot be used: cannot list it: permission denied (EACCES)`);
    expect(fs.readdirSync(shared)).toEqual([]);
  });
});

describe('a usable explicit state dir', () => {
  it('is created when missing (parents too), and the write check leaves nothing behind', async () => {
    const dir = path.join(tmp, 'fresh', 'a', 'b');
    const r = await ffrtmp(['run', '--state-dir', dir, '--job-id', 'sd-fresh', '--', 'true']);
    expect(r.code).toBe(0);
    // the journal, the (empty) open-jobs index and the keepers' (empty) exit files
    expect(fs.readdirSync(dir).sort()).toEqual(['exits', 'journal.jsonl', 'open']);
    expect(fs.readdirSync(path.join(dir, 'exits'))).toEqual([]);
    expect(fs.readdirSync(path.join(tmp, 'fresh'))).toEqual(['a']);
    const again = await ffrtmp(['run', '--state-dir', dir, '--job-id', 'sd-again', '--', 'true']);
    expect(again.code).toBe(0);
    expect(fs.readdirSync(dir).sort()).toEqual(['exits', 'journal.jsonl', 'open']);
    expect(fs.readdirSync(path.join(dir, 'exits'))).toEqual([]);
  });
});

describe('attach and recover check an explicit state dir the same way', () => {
  it('attach: exit 2, one line, nothing attached (the process is untouched)', async () => {
    const target = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const r = await ffrtmp(['attach', '--pid', String(target.pid), '--state-dir', aFile]);
      expect(r.code).toBe(2);
      expect(oneLine(r.stderr)).toBe(`ffrtmp: --state-dir ${aFile} cannot be used: it is not a directory`);
      expect(target.exitCode).toBeNull();
    } finally {
      killQuietly(target.pid);
    }
  });

  it('recover writes: exit 2; recover --dry-run only reads', async () => {
    const r = await ffrtmp(['recover', '--state-dir', '/proc/x']);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toMatch(/^ffrtmp: --state-dir \/proc\/x cannot be used: /);
    const dry = await ffrtmp(['recover', '--dry-run', '--state-dir', aFile]);
    expect(dry.code).toBe(2);
    expect(oneLine(dry.stderr)).toBe(`ffrtmp: --state-dir ${aFile} cannot be used: it is not a directory`);
    const dryMissing = await ffrtmp(['recover', '--dry-run', '--state-dir', path.join(tmp, 'none')]);
    expect(dryMissing.code).toBe(0);
    expect(dryMissing.stdout).toBe('no unfinished jobs\n');
  });
});

describe('jobs with an explicit state dir', () => {
  it('a regular file (or below one): exit 2, one line', async () => {
    for (const args of [['jobs'], ['jobs', '--json'], ['jobs', 'show', 'x']]) {
      const r = await ffrtmp([...args, '--state-dir', aFile]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(oneLine(r.stderr)).toBe(`ffrtmp: --state-dir ${aFile} cannot be used: it is not a directory`);
      expect(r.stdout).toBe('');
    }
    const below = await ffrtmp(['jobs', '--state-dir', path.join(aFile, 'sub')]);
    expect(below.code).toBe(2);
    expect(oneLine(below.stderr)).toMatch(/a component of the path is not a directory \(ENOTDIR\)$/);
  });

  it('a missing directory is an empty journal (exit 0), and nothing is created', async () => {
    const dir = path.join(tmp, 'never-made');
    const r = await ffrtmp(['jobs', '--state-dir', dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`no jobs in ${dir}\n`);
    expect(fs.existsSync(dir)).toBe(false);
  });
});
