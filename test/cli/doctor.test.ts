/**
 * `ffrtmp doctor`: each check has a severity (ok / warning / missing); the exit status is 1 only
 * when something is missing. Through the built CLI on this host, plus the pure exit function.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { doctorExitCode } from '../../src/cli/exit-codes';
import { worstSeverity, type Check } from '../../src/model/check';
import { CLI, ffrtmp } from '../helpers';

interface JsonDiagnosis {
  severity: 'ok' | 'warning' | 'missing';
  fullyCapable: boolean;
  checks: { name: string; ok: boolean; severity: 'ok' | 'warning' | 'missing'; detail: string }[];
}

const check = (severity: Check['severity']): Check => ({ name: severity, ok: severity === 'ok', severity, detail: '' });

describe('doctorExitCode', () => {
  it('is 0 when nothing is missing (warnings allowed), 1 when something is', () => {
    expect(doctorExitCode({ checks: [] })).toBe(0);
    expect(doctorExitCode({ checks: [check('ok'), check('ok')] })).toBe(0);
    expect(doctorExitCode({ checks: [check('ok'), check('warning'), check('warning')] })).toBe(0);
    expect(doctorExitCode({ checks: [check('ok'), check('warning'), check('missing')] })).toBe(1);
    expect(worstSeverity([check('ok'), check('warning')])).toBe('warning');
    expect(worstSeverity([check('missing'), check('warning')])).toBe('missing');
    expect(worstSeverity([])).toBe('ok');
  });
});

describe('ffrtmp doctor on this host', () => {
  it('--json: every check has a severity, ok is true exactly for severity ok, and the exit status follows the missing ones', async () => {
    const r = await ffrtmp(['doctor', '--json']);
    const d = JSON.parse(r.stdout) as JsonDiagnosis;
    expect(d.checks.length).toBeGreaterThan(3);
    for (const c of d.checks) {
      expect(['ok', 'warning', 'missing']).toContain(c.severity);
      expect(c.ok).toBe(c.severity === 'ok');
    }
    const missing = d.checks.filter((c) => c.severity === 'missing');
    expect(d.severity).toBe(missing.length > 0 ? 'missing' : d.checks.some((c) => c.severity === 'warning') ? 'warning' : 'ok');
    expect(d.fullyCapable).toBe(d.severity === 'ok');
    expect(r.code, missing.map((c) => `${c.name}: ${c.detail}`).join('\n')).toBe(missing.length > 0 ? 1 : 0);
    expect(r.stderr).toBe('');
  });

  it('a host without CLONE_INTO_CGROUP (v1/hybrid) gets a warning for it, not a failure; the text marks it warn', async () => {
    const d = JSON.parse((await ffrtmp(['doctor', '--json'])).stdout) as JsonDiagnosis;
    const into = d.checks.find((c) => c.name === 'CLONE_INTO_CGROUP')!;
    const text = await ffrtmp(['doctor']);
    if (into.ok) {
      expect(text.stdout).toMatch(/^ok {4}CLONE_INTO_CGROUP: /m);
      return;
    }
    expect(into.severity).toBe('warning');
    expect(text.stdout).toMatch(/^warn {2}CLONE_INTO_CGROUP: /m);
    expect(text.stdout).not.toMatch(/^MISS {2}CLONE_INTO_CGROUP/m);
    if (!d.checks.some((c) => c.severity === 'missing')) {
      // This repository's own test host (hybrid cgroups, Linux 6.18): run, attach and every limit work.
      expect(text.code).toBe(0);
      expect(text.stdout.trim().split('\n').pop()).toMatch(/^capable: every function works/);
    }
  });

  it('no native addon: MISS lines for the addon and the observer, exit 1', async () => {
    const r = await ffrtmp(['doctor'], { env: { FFRTMP_FORCE_NO_NATIVE: '1' } });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^MISS {2}native addon: disabled by FFRTMP_FORCE_NO_NATIVE$/m);
    expect(r.stdout).toMatch(/^MISS {2}observer backend: polling: /m);
    expect(r.stdout.trim().split('\n').pop()).toBe('degraded: a function is lost, see the MISS lines');
    const j = JSON.parse((await ffrtmp(['doctor', '--json'], { env: { FFRTMP_FORCE_NO_NATIVE: '1' } })).stdout) as JsonDiagnosis;
    expect(j.severity).toBe('missing');
    expect(j.checks.find((c) => c.name === 'native addon')).toMatchObject({ ok: false, severity: 'missing' });
  });

  it.skipIf(process.geteuid?.() !== 0)('an unprivileged user cannot write the cgroup root: MISS, exit 1', () => {
    if (spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'true']).status !== 0) return;
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'doctor'], {
      encoding: 'utf8',
      env: { ...process.env, HOME: '/nonexistent' },
    });
    expect(r.stdout).toMatch(/^MISS {2}cgroup root: not writable: /m);
    // Linux 6.6+ lets an unprivileged process listen to the process connector, filtered in the kernel.
    const [maj, min] = (spawnSync('uname', ['-r'], { encoding: 'utf8' }).stdout.match(/^(\d+)\.(\d+)/) ?? []).slice(1).map(Number);
    if (maj! > 6 || (maj === 6 && min! >= 6)) expect(r.stdout).toMatch(/^ok {4}process connector: usable, exec events filtered in the kernel: /m);
    expect(r.status).toBe(1);
  });

  it('the process connector is usable by root here, and not in a user namespace (a warning: watch falls back to the scan)', () => {
    const here = spawnSync(process.execPath, [CLI, 'doctor'], { encoding: 'utf8' });
    expect(here.stdout).toMatch(/^ok {4}process connector: usable/m);
    const ns = spawnSync('unshare', ['--user', '--map-root-user', process.execPath, CLI, 'doctor'], { encoding: 'utf8' });
    if (ns.error) return;
    expect(ns.stdout).toMatch(/^warn {2}process connector: ETIMEDOUT: /m);
  });
});
