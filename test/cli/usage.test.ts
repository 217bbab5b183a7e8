/**
 * Usage errors through the built CLI: exactly one stderr line starting `ffrtmp: `, exit 2,
 * nothing started; commander's own messages in the same shape; a long bad value is never
 * echoed whole; help prints each default once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { quote, shown } from '../../src/model/quote';
import { commanderErrorLine } from '../../src/cli/usage-line';
import { ffrtmp, testTempDir } from '../helpers';

const tmp = testTempDir('usage');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const marker = path.join(tmp, 'must-not-exist');
const LONG = 'x'.repeat(5000);

/** The one stderr line of a usage error (asserts there is exactly one, and the prefix). */
function oneLine(stderr: string): string {
  const lines = stderr.split('\n');
  expect(lines.at(-1), 'stderr ends with a newline').toBe('');
  expect(lines.slice(0, -1), `exactly one line:\n${stderr}`).toHaveLength(1);
  expect(lines[0]).toMatch(/^ffrtmp: /);
  return lines[0]!;
}

describe('quote() and shown()', () => {
  it('JSON-quotes, and cuts a long value with … and its original length', () => {
    expect(quote('a/b')).toBe('"a/b"');
    expect(quote('a"b\nc')).toBe('"a\\"b\\nc"');
    expect(quote('y'.repeat(60))).toBe(`"${'y'.repeat(60)}"`);
    expect(quote(LONG)).toBe(`"${'x'.repeat(60)}…" (5000 characters)`);
    expect(quote(LONG, 5)).toBe('"xxxxx…" (5000 characters)');
    expect(quote('😀'.repeat(70))).toBe(`"${'😀'.repeat(60)}…" (70 characters)`); // never half a surrogate pair
  });

  it('shown() leaves a short plain value bare, and quotes anything else', () => {
    expect(shown('ffmpegx')).toBe('ffmpegx');
    expect(shown('/srv/state-1')).toBe('/srv/state-1');
    expect(shown('a b')).toBe('"a b"');
    expect(shown('')).toBe('""');
    expect(shown('/'.repeat(160))).toBe('/'.repeat(160));
    expect(shown(`/${LONG}`)).toBe(`"/${'x'.repeat(159)}…" (5001 characters)`);
    expect(shown(`/${LONG}`, 10)).toBe(`"/${'x'.repeat(9)}…" (5001 characters)`);
  });
});

describe("commander's messages in our shape", () => {
  it.each([
    ["error: unknown option '--x'\n", 'ffrtmp run', "ffrtmp: unknown option '--x' (see ffrtmp run --help)\n"],
    ["error: unknown option '--jsn'\n(Did you mean --json?)\n", 'ffrtmp run', "ffrtmp: unknown option '--jsn', did you mean --json? (see ffrtmp run --help)\n"],
    ["error: unknown command 'bogus'\n", 'ffrtmp', "ffrtmp: unknown command 'bogus' (see ffrtmp --help)\n"],
    [
      "error: option '--log-format <format>' argument 'a\nb' is invalid. Allowed choices are text, json.\n",
      'ffrtmp serve',
      "ffrtmp: option '--log-format <format>' argument \"a\\nb\" is invalid. Allowed choices are text, json (see ffrtmp serve --help)\n",
    ],
    ["error: missing required argument 'job-id'\n", 'ffrtmp jobs show', "ffrtmp: missing required argument 'job-id' (see ffrtmp jobs show --help)\n"],
  ])('%j', (message, cmd, line) => {
    expect(commanderErrorLine(message, cmd)).toBe(line);
  });
});

describe('usage errors through the CLI: one line, ffrtmp: prefix, exit 2, nothing started', () => {
  it.each([
    ['unknown option', ['run', '--frobnicate', '--', 'touch', marker], /^ffrtmp: unknown option '--frobnicate' \(see ffrtmp run --help\)$/],
    ['unknown option, with a suggestion', ['run', '--jsn', '--', 'touch', marker], /^ffrtmp: unknown option '--jsn', did you mean --json\? \(see ffrtmp run --help\)$/],
    ['unknown top-level option', ['--frobnicate'], /^ffrtmp: unknown option '--frobnicate' \(see ffrtmp --help\)$/],
    ['unknown command', ['frobnicate'], /^ffrtmp: unknown command 'frobnicate' \(see ffrtmp --help\)$/],
    ['missing option value', ['serve', '--listen'], /^ffrtmp: option '--listen <host:port>' argument missing \(see ffrtmp serve --help\)$/],
    ['bad choice', ['run', '--log-format', 'xml', '--', 'touch', marker], /^ffrtmp: option '--log-format <format>' argument 'xml' is invalid\. Allowed choices are text, json \(see ffrtmp run --help\)$/],
    ['missing required option', ['attach'], /^ffrtmp: required option '--pid <pid>' not specified \(see ffrtmp attach --help\)$/],
    ['too many arguments', ['doctor', 'extra'], /^ffrtmp: too many arguments for 'doctor'/],
    ['bad --limit', ['jobs', '--limit', 'x'], /^ffrtmp: --limit "x" is not a limit \(expected a whole number from 1 to 100000\)$/],
    ['bad --pid', ['attach', '--pid', 'abc'], /^ffrtmp: --pid "abc" is not a process id \(expected a positive whole number\)$/],
    ['bad --listen', ['serve', '--listen', 'nonsense'], /^ffrtmp: --listen "nonsense" is not HOST:PORT/],
    ['bad --violations', ['serve', '--violations', '0'], /^ffrtmp: --violations "0" is not a size/],
    ['missing --workdir', ['run', '--workdir', '/nonexistent-dir-xyz', '--', 'touch', marker], /^ffrtmp: --workdir \/nonexistent-dir-xyz: no such directory$/],
  ])('%s', async (_name, args, line) => {
    const r = await ffrtmp(args);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toMatch(line);
    expect(r.stdout).toBe('');
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('--help and --version still exit 0', async () => {
    expect((await ffrtmp(['--help'])).code).toBe(0);
    expect((await ffrtmp(['run', '--help'])).code).toBe(0);
    expect((await ffrtmp(['--version'])).code).toBe(0);
  });
});

describe('a 5,000-character bad value is not echoed whole', () => {
  const cut = `"${'x'.repeat(60)}…" (5000 characters)`;
  it.each([
    ['--job-id (too long)', ['run', '--job-id', LONG, '--', 'touch', marker], 'job id is 5000 characters long; the limit is 128'],
    ['--job-id (bad characters)', ['run', '--job-id', `a/${'x'.repeat(100)}`, '--', 'touch', marker], `job id "a/${'x'.repeat(58)}…" (102 characters) is not allowed`],
    ['--intent', ['run', '--intent', LONG, '--', 'touch', marker], `intent ${cut}`],
    ['--memory-max', ['run', '--memory-max', LONG, '--', 'touch', marker], `got ${cut}`],
    ['--cpu-quota', ['run', '--cpu-quota', LONG, '--', 'touch', marker], `got ${cut}`],
    ['--cpu-max', ['run', '--cpu-max', LONG, '--', 'touch', marker], `got ${cut}`],
    ['--cpu-weight', ['run', '--cpu-weight', LONG, '--', 'touch', marker], `got ${cut}`],
    ['--io-max', ['run', '--io-max', LONG, '--', 'touch', marker], `got ${cut}`],
    ['--cgroup-root', ['run', '--cgroup-root', LONG, '--', 'touch', marker], `got ${cut}`],
    ['--workdir', ['run', '--workdir', `/${LONG}`, '--', 'touch', marker], '--workdir "/'],
    ['--result-file', ['run', '--result-file', `/${LONG}`, '--', 'touch', marker], '--result-file "/'],
    ['--pid', ['attach', '--pid', LONG], `--pid ${cut}`],
    ['--listen', ['serve', '--listen', LONG], `--listen ${cut}`],
    ['--limit', ['jobs', '--limit', LONG], `--limit ${cut}`],
    ['--log-format', ['run', '--log-format', LONG, '--', 'touch', marker], `argument ${cut} is invalid`],
    ['an unknown option', ['run', `--${LONG}`, '--', 'touch', marker], `unknown option "--${'x'.repeat(58)}…" (5002 characters)`],
    ['an unknown command', [LONG], `unknown command ${cut}`],
  ])('%s', async (_name, args, part) => {
    const r = await ffrtmp(args);
    expect(r.code).toBe(2);
    const line = oneLine(r.stderr);
    expect(line).toContain(part);
    expect(line.length).toBeLessThan(400);
    expect(fs.existsSync(marker)).toBe(false);
  });
});

describe('help prints each default once', () => {
  it.each([[['jobs', 'list', '--help']], [['serve', '--help']], [['run', '--help']], [['attach', '--help']], [['recover', '--help']]])('%j', async (args) => {
    const r = await ffrtmp(args);
    expect(r.code).toBe(0);
    const text = r.stdout.replace(/\n\s+/g, ' ');
    expect(text).not.toMatch(/\(default [^)]*\)\s*\(default: /);
    for (const opt of text.matchAll(/--[a-z-]+ <[^>]+>[^-]*/g)) expect(opt[0].match(/default/g)?.length ?? 0, opt[0]).toBeLessThanOrEqual(1);
  });

  it('the defaults are still shown, by commander', async () => {
    expect((await ffrtmp(['jobs', 'list', '--help'])).stdout).toMatch(/--limit <n> +how many Results \(default: 20\)/);
    const serve = (await ffrtmp(['serve', '--help'])).stdout.replace(/\n\s+/g, ' ');
    // ...and, for the daemons' settings, the variable a systemd EnvironmentFile sets.
    expect(serve).toMatch(/--listen <host:port> +address to listen on \(default: "127\.0\.0\.1:9090", env: FFRTMP_SERVE_LISTEN\)/);
    expect(serve).toMatch(/--violations <n> +violation samples kept \(default: 50, env: FFRTMP_VIOLATIONS\)/);
  });
});
