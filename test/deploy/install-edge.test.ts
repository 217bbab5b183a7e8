/**
 * deployment/install-edge.sh and the units, on this host (not booted with systemd):
 * - shellcheck (Debian's `shellcheck`, installed by .ci/run) finds nothing in the installer;
 * - `systemd-analyze verify` is clean on the units as installed (the ExecStart= link resolved in
 *   the fake root) and every unit's env file has every variable the unit reads;
 * - bad input: one line, exit 2, nothing created;
 * - --dry-run prints every action and changes nothing;
 * - a real install into a fake root (--root: the same file-laying code, npm install --prefix of the
 *   `npm pack` tarball, useradd --prefix), run twice (idempotent, an edited env file is kept), the
 *   installed ffrtmp runs, then --uninstall (keeps settings and journal) and --uninstall --purge.
 * systemctl is called only as `systemctl --root` (enable/disable: symlinks); daemon-reload is
 * skipped, and the installer says so. The guest that boots systemd runs the rest (test/vm).
 * Missing shellcheck or systemd-analyze: those tests are skipped LOUDLY.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, ROOT } from '../helpers';

const SCRIPT = path.join(ROOT, 'deployment', 'install-edge.sh');
const UNITS = ['ffrtmp-agent.service', 'ffrtmp-watch.service', 'ffrtmp-serve.service'];
const has = (bin: string): boolean => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
const HAVE_SHELLCHECK = has('shellcheck');
const HAVE_ANALYZE = has('systemd-analyze');
const HAVE_SYSTEMCTL = has('systemctl');
const IS_ROOT = process.geteuid?.() === 0;
if (!HAVE_SHELLCHECK || !HAVE_ANALYZE || !HAVE_SYSTEMCTL) {
  console.warn(
    `\n*** SKIPPING installer checks: ${[!HAVE_SHELLCHECK && 'shellcheck', !HAVE_ANALYZE && 'systemd-analyze', !HAVE_SYSTEMCTL && 'systemctl'].filter(Boolean).join(', ')} not installed ` +
      '(apt-get install -y shellcheck systemd) ***\n',
  );
}

let work: string;
beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ffrtmp-install-'));
});
afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

function install(args: string[], env: NodeJS.ProcessEnv = {}, timeout = 60_000): SpawnSyncReturns<string> {
  return spawnSync('bash', [SCRIPT, ...args], { encoding: 'utf8', timeout, env: { ...process.env, ...env } });
}

/** Every file and directory under dir, relative, sorted. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const rel = path.relative(dir, path.join(d, e.name));
      out.push(rel);
      if (e.isDirectory() && !e.isSymbolicLink()) walk(path.join(d, e.name));
    }
  };
  walk(dir);
  return out.sort();
}

/** A root with just enough of /etc for useradd --prefix, and systemd's own units for verify. */
function fakeRoot(name: string): string {
  const r = path.join(work, name);
  fs.mkdirSync(path.join(r, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(r, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  fs.writeFileSync(path.join(r, 'etc/group'), 'root:x:0:\n');
  fs.writeFileSync(path.join(r, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o640 });
  fs.writeFileSync(path.join(r, 'etc/gshadow'), 'root:*::\n', { mode: 0o640 });
  return r;
}

describe.skipIf(!HAVE_SHELLCHECK)('shellcheck', () => {
  it('finds nothing in deployment/install-edge.sh', () => {
    const r = spawnSync('shellcheck', ['-x', SCRIPT], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('the env files carry every variable the units and the commands read', () => {
  // Each unit's ExecStart= / ExecReload= variables, and each command's env names from --help.
  const cases: [string, string, string[]][] = [
    ['ffrtmp-agent.service', 'agent', ['REDIS_URL', 'QUEUES', 'MAX_JOBS', 'CAPABILITIES', 'WORKER_ID', 'LOCK_DURATION_MS', 'STALLED_INTERVAL_MS', 'LISTEN', 'WRAPPER_ENABLED', 'FFRTMP_CGROUP_ROOT', 'FFRTMP_ARGS']],
    ['ffrtmp-watch.service', 'watch', ['FFRTMP_WATCH_CONFIG', 'FFRTMP_TARGETS', 'FFRTMP_DISCOVERY', 'FFRTMP_SCAN_INTERVAL', 'FFRTMP_RECONCILE_INTERVAL', 'FFRTMP_EVENT_BUFFER', 'FFRTMP_INTENT', 'FFRTMP_WATCH_LISTEN', 'FFRTMP_LOG_LEVEL', 'FFRTMP_CGROUP_ROOT', 'FFRTMP_ARGS']],
    ['ffrtmp-serve.service', 'serve', ['FFRTMP_SERVE_LISTEN', 'FFRTMP_VIOLATIONS', 'FFRTMP_ARGS']],
  ];
  for (const [unit, cmd, vars] of cases) {
    it(`${unit}: deployment/env/${cmd}.env.example (+ ffrtmp.env.example)`, () => {
      const text = fs.readFileSync(path.join(ROOT, 'deployment/systemd', unit), 'utf8');
      const envText =
        fs.readFileSync(path.join(ROOT, 'deployment/env', `${cmd}.env.example`), 'utf8') + fs.readFileSync(path.join(ROOT, 'deployment/env/ffrtmp.env.example'), 'utf8');
      const declared = new Set([...envText.matchAll(/^#?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!));
      // What the unit expands...
      const used = [...text.matchAll(/\$\{?([A-Z][A-Z0-9_]*)\}?/g)].map((m) => m[1]!).filter((v) => v !== 'MAINPID');
      // ...and what the command reads (commander prints "env: NAME" in --help).
      const help = spawnSync(process.execPath, [CLI, cmd, '--help'], { encoding: 'utf8', env: { ...process.env, COLUMNS: '400' } }).stdout;
      const read = [...help.matchAll(/env:? ([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!);
      for (const v of [...used, ...read, ...vars, 'FFRTMP_STATE_DIR', 'FFRTMP_LOG_FORMAT']) expect(declared, `${v} in the env example of ${unit}`).toContain(v);
      expect(text).toMatch(/^EnvironmentFile=\/etc\/ffrtmp\/ffrtmp\.env$/m);
      expect(text).toMatch(new RegExp(`^EnvironmentFile=/etc/ffrtmp/${cmd}\\.env$`, 'm'));
      expect(text).toMatch(/^KillMode=process$/m);
      // No ${VAR:-default}: systemd does not support it in Exec lines (the original's units did this).
      expect(text).not.toMatch(/\$\{[A-Z_]+:-/);
    });
  }
  it('every uncommented line of the env examples is NAME=value with nothing after it', () => {
    for (const f of fs.readdirSync(path.join(ROOT, 'deployment/env'))) {
      for (const line of fs.readFileSync(path.join(ROOT, 'deployment/env', f), 'utf8').split('\n')) {
        if (line === '' || line.startsWith('#')) continue;
        expect(line, f).toMatch(/^[A-Z][A-Z0-9_]*=\S*$/);
      }
    }
  });
  it('the daemons read the variables (the built CLI, an env var instead of the flag)', () => {
    for (const [cmd, name, bad] of [
      ['serve', 'FFRTMP_SERVE_LISTEN', 'not-an-address'],
      ['watch', 'FFRTMP_DISCOVERY', 'sometimes'],
    ]) {
      const r = spawnSync(process.execPath, [CLI, cmd], { encoding: 'utf8', timeout: 10_000, env: { ...process.env, [name]: bad } });
      expect(r.status, cmd).toBe(2);
      expect(r.stderr, cmd).toContain(bad);
    }
  });
});

describe('bad input: one line, exit 2, nothing created', () => {
  const cases: [string, string[], RegExp][] = [
    ['an unknown option', ['--frobnicate'], /unknown option --frobnicate/],
    ['nothing to install', [], /say what to install/],
    ['a missing tarball', ['--tarball', '/nonexistent/ffrtmp.tgz'], /is not a readable file/],
    ['both sources', ['--tarball', SCRIPT, '--package', 'x'], /exclude each other/],
    ['--purge without --uninstall', ['--tarball', SCRIPT, '--purge'], /--purge goes with --uninstall/],
    ['a bad unit in --enable', ['--package', 'x', '--enable', 'agent,worker'], /--enable worker: not a unit/],
    ['--uninstall with a source', ['--uninstall', '--package', 'x'], /--uninstall takes no --tarball/],
    ['a bad --cgroup-layout', ['--package', 'x', '--cgroup-layout', 'flat'], /--cgroup-layout flat: expected auto, unit or top/],
    ['--unprivileged with the top-level layout', ['--package', 'x', '--unprivileged', '--cgroup-layout', 'top'], /--unprivileged needs --cgroup-layout unit/],
  ];
  for (const [what, args, msg] of cases) {
    it(what, () => {
      const r = fakeRoot(`bad-${what.replace(/\W+/g, '-')}`);
      const before = tree(r);
      const res = install([...args, '--root', r]);
      expect(res.status).toBe(2);
      expect(res.stdout).toBe('');
      expect(res.stderr.trim().split('\n')).toHaveLength(1);
      expect(res.stderr).toMatch(msg);
      expect(tree(r)).toEqual(before);
    });
  }
});

let tarball: string;
function pack(): string {
  if (tarball) return tarball;
  const dest = path.join(work, 'pack');
  fs.mkdirSync(dest);
  // dist/ is built by `npm test` (pretest); --ignore-scripts: no second build.
  const r = spawnSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dest], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  expect(r.status, r.stderr).toBe(0);
  tarball = path.join(dest, fs.readdirSync(dest).find((f) => f.endsWith('.tgz'))!);
  return tarball;
}

describe('--dry-run', () => {
  it('prints every action and changes nothing (install and uninstall)', () => {
    const r = fakeRoot('dry');
    const before = tree(r);
    const res = install(['--tarball', pack(), '--root', r, '--dry-run', '--enable', 'agent,serve', '--unprivileged']);
    expect(res.status, res.stderr).toBe(0);
    const out = res.stdout;
    expect(out).toContain('dry run: nothing is changed');
    for (const p of [
      'useradd --prefix',
      `install -d -m 0755 ${r}/etc/ffrtmp ${r}/opt/ffrtmp/tarballs ${r}/usr/local/bin`,
      `npm install --prefix ${r}/opt/ffrtmp`,
      `ln -sfn /opt/ffrtmp/node_modules/.bin/ffrtmp ${r}/usr/local/bin/ffrtmp`,
      ...UNITS.map((u) => `${r}/etc/systemd/system/${u}`),
      `${r}/etc/systemd/system/user@.service.d/ffrtmp-delegate.conf`,
      `${r}/etc/systemd/system/ffrtmp-agent.service.d/10-user.conf`,
      `${r}/etc/ffrtmp/agent.env`,
      `${r}/etc/ffrtmp/watch.yaml`,
      `systemctl --root=${r} enable ffrtmp-agent.service`,
      'skip: systemctl daemon-reload (not booted with systemd',
    ]) {
      expect(out).toContain(p);
    }
    expect(tree(r)).toEqual(before);
    const un = install(['--uninstall', '--purge', '--root', r, '--dry-run']);
    expect(un.status, un.stderr).toBe(0);
    expect(tree(r)).toEqual(before);
  });
});

describe.skipIf(!IS_ROOT || !HAVE_ANALYZE || !HAVE_SYSTEMCTL)('a real install into a fake root (--root)', () => {
  let r: string;
  const run = (args: string[]): SpawnSyncReturns<string> => {
    // --prefer-offline: the dependencies come from npm's cache when npm ci put them there.
    const res = install([...args, '--root', r], { npm_config_prefer_offline: 'true' }, 300_000);
    expect(res.status, `${res.stdout}\n${res.stderr}`).toBe(0);
    return res;
  };
  beforeAll(() => {
    r = fakeRoot('real');
    // systemd-analyze verify --root needs systemd's own units (sysinit.target, ...) in the root.
    fs.cpSync('/usr/lib/systemd/system', path.join(r, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
    fs.mkdirSync(path.join(r, 'bin'));
    fs.symlinkSync('/bin/kill', path.join(r, 'bin/kill'));
  });

  it('installs, is idempotent, keeps an edited env file; the units verify clean; the installed ffrtmp runs', () => {
    const first = run(['--tarball', pack(), '--enable', 'agent,serve']);
    expect(first.stdout).toContain('skip: systemctl daemon-reload (not booted with systemd');
    // The user, with no login shell.
    expect(fs.readFileSync(path.join(r, 'etc/passwd'), 'utf8')).toMatch(/^ffrtmp:x:\d+:\d+:[^:]*:\/var\/lib\/ffrtmp:\/usr\/sbin\/nologin$/m);
    // Files, modes, the link.
    for (const u of UNITS) {
      expect(fs.readFileSync(path.join(r, 'etc/systemd/system', u), 'utf8')).toBe(fs.readFileSync(path.join(ROOT, 'deployment/systemd', u), 'utf8'));
      expect(fs.statSync(path.join(r, 'etc/systemd/system', u)).mode & 0o777).toBe(0o644);
    }
    expect(fs.existsSync(path.join(r, 'etc/systemd/system/user@.service.d/ffrtmp-delegate.conf'))).toBe(true);
    expect(fs.readlinkSync(path.join(r, 'etc/systemd/system/multi-user.target.wants/ffrtmp-agent.service'))).toBe('/etc/systemd/system/ffrtmp-agent.service');
    expect(fs.existsSync(path.join(r, 'etc/systemd/system/multi-user.target.wants/ffrtmp-watch.service'))).toBe(false);
    expect(fs.statSync(path.join(r, 'etc/ffrtmp/agent.env')).mode & 0o777).toBe(0o640);
    expect(fs.statSync(path.join(r, 'var/lib/ffrtmp')).mode & 0o777).toBe(0o750);
    expect(fs.readlinkSync(path.join(r, 'usr/local/bin/ffrtmp'))).toBe('/opt/ffrtmp/node_modules/.bin/ffrtmp');

    // The installed package runs, with its native addon and keeper built there.
    const installed = path.join(r, 'opt/ffrtmp/node_modules/ffrtmp');
    expect(fs.existsSync(path.join(installed, 'deployment/install-edge.sh'))).toBe(true);
    const doctor = spawnSync(process.execPath, [path.join(installed, 'dist/cli/main.js'), 'doctor', '--json'], { encoding: 'utf8', timeout: 30_000 });
    const diag = JSON.parse(doctor.stdout) as { checks: { name?: string; id?: string; severity: string; detail?: string }[] };
    expect(JSON.stringify(diag)).toContain(installed); // the keeper it found is the installed one
    expect(diag.checks.length).toBeGreaterThan(3);

    // systemd-analyze verify on the units as installed: clean (it also resolves ExecStart= in the root).
    const verify = spawnSync('systemd-analyze', ['verify', `--root=${r}`, '--man=no', ...UNITS.map((u) => path.join(r, 'etc/systemd/system', u))], { encoding: 'utf8' });
    expect(verify.stdout + verify.stderr).toBe('');
    expect(verify.status).toBe(0);

    // Again, with an operator's edit: nothing is replaced that was right, the edit is kept.
    const agentEnv = path.join(r, 'etc/ffrtmp/agent.env');
    fs.appendFileSync(agentEnv, 'WORKER_ID=edge-42\n');
    const edited = fs.readFileSync(agentEnv, 'utf8');
    const second = run(['--tarball', pack()]);
    expect(fs.readFileSync(agentEnv, 'utf8')).toBe(edited);
    expect(second.stdout).toContain(`keep: ${agentEnv} exists (never overwritten)`);
    for (const u of UNITS) expect(second.stdout).toContain(`ok: ${r}/etc/systemd/system/${u} is up to date`);
    expect(second.stdout).toContain('ok: user ffrtmp exists');
    expect(second.stdout).not.toMatch(/^\+ (useradd|install -D|ln )/m);
  }, 600_000);

  it('--unprivileged adds the User= drop-ins (and a plain run removes them); the units still verify', () => {
    run(['--tarball', pack(), '--unprivileged']);
    for (const u of ['ffrtmp-agent', 'ffrtmp-serve']) {
      expect(fs.readFileSync(path.join(r, `etc/systemd/system/${u}.service.d/10-user.conf`), 'utf8')).toMatch(/^User=ffrtmp$/m);
    }
    expect(fs.existsSync(path.join(r, 'etc/systemd/system/ffrtmp-watch.service.d'))).toBe(false);
    const verify = spawnSync('systemd-analyze', ['verify', `--root=${r}`, '--man=no', ...UNITS.map((u) => path.join(r, 'etc/systemd/system', u))], { encoding: 'utf8' });
    expect(verify.stdout + verify.stderr).toBe('');
    run(['--tarball', pack()]);
    expect(fs.existsSync(path.join(r, 'etc/systemd/system/ffrtmp-agent.service.d'))).toBe(false);
  }, 600_000);

  it('--cgroup-layout top puts the job cgroups of agent and watch outside their units (a drop-in); unit takes it back', () => {
    const out = run(['--tarball', pack(), '--cgroup-layout', 'top']).stdout;
    for (const u of ['ffrtmp-agent', 'ffrtmp-watch']) {
      const f = path.join(r, `etc/systemd/system/${u}.service.d/20-cgroups.conf`);
      expect(out).toContain(f);
      expect(fs.readFileSync(f, 'utf8')).toMatch(/^Environment=FFRTMP_CGROUP_ROOT=\/sys\/fs\/cgroup\/ffrtmp$/m);
    }
    expect(fs.existsSync(path.join(r, 'etc/systemd/system/ffrtmp-serve.service.d'))).toBe(false);
    const verify = spawnSync('systemd-analyze', ['verify', `--root=${r}`, '--man=no', ...UNITS.map((u) => path.join(r, 'etc/systemd/system', u))], { encoding: 'utf8' });
    expect(verify.stdout + verify.stderr).toBe('');
    run(['--tarball', pack(), '--cgroup-layout', 'unit']);
    const sdVersion = Number(/^systemd (\d+)/.exec(spawnSync('systemctl', ['--version'], { encoding: 'utf8' }).stdout)?.[1] ?? 0);
    // Before 254 the unit layout needs no drop-in; from 254 it is DelegateSubgroup=supervisor.
    expect(fs.existsSync(path.join(r, 'etc/systemd/system/ffrtmp-agent.service.d/20-cgroups.conf'))).toBe(sdVersion >= 254);
  }, 600_000);

  it('--uninstall removes what it installed and keeps settings and journal; --purge removes those and the user', () => {
    fs.writeFileSync(path.join(r, 'var/lib/ffrtmp/journal.jsonl'), '{}\n');
    fs.mkdirSync(path.join(r, 'etc/systemd/system/other.service.d'), { recursive: true });
    fs.writeFileSync(path.join(r, 'etc/systemd/system/other.service.d/x.conf'), '[Service]\n');
    run(['--uninstall']);
    for (const u of UNITS) expect(fs.existsSync(path.join(r, 'etc/systemd/system', u))).toBe(false);
    expect(fs.existsSync(path.join(r, 'etc/systemd/system/multi-user.target.wants/ffrtmp-agent.service'))).toBe(false);
    expect(fs.existsSync(path.join(r, 'etc/systemd/system/user@.service.d'))).toBe(false);
    expect(fs.existsSync(path.join(r, 'opt/ffrtmp'))).toBe(false);
    expect(fs.existsSync(path.join(r, 'usr/local/bin/ffrtmp'))).toBe(false);
    expect(fs.existsSync(path.join(r, 'etc/ffrtmp/agent.env.example'))).toBe(false);
    expect(fs.readFileSync(path.join(r, 'etc/ffrtmp/agent.env'), 'utf8')).toContain('WORKER_ID=edge-42');
    expect(fs.existsSync(path.join(r, 'var/lib/ffrtmp/journal.jsonl'))).toBe(true);
    expect(fs.existsSync(path.join(r, 'etc/systemd/system/other.service.d/x.conf'))).toBe(true);
    run(['--uninstall']); // again: nothing to do, no error
    run(['--uninstall', '--purge']);
    expect(fs.existsSync(path.join(r, 'etc/ffrtmp'))).toBe(false);
    expect(fs.existsSync(path.join(r, 'var/lib/ffrtmp'))).toBe(false);
    expect(fs.readFileSync(path.join(r, 'etc/passwd'), 'utf8')).not.toMatch(/^ffrtmp:/m);
    expect(fs.existsSync(path.join(r, 'etc/systemd/system/other.service.d/x.conf'))).toBe(true);
  }, 120_000);
});
