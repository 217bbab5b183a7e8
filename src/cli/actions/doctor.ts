import { diagnose, type Diagnosis } from '../../core/doctor';
import type { CheckSeverity } from '../../model/check';
import { doctorExitCode } from '../exit-codes';
import { stdout } from '../stdio';

const MARK: Record<CheckSeverity, string> = { ok: 'ok  ', warning: 'warn', missing: 'MISS' };

const VERDICT: Record<CheckSeverity, string> = {
  ok: 'fully capable',
  warning: 'capable: every function works; see the warn lines for what is done another way',
  missing: 'degraded: a function is lost, see the MISS lines',
};

export function renderDiagnosis(d: Diagnosis): string {
  const lines = [`kernel ${d.kernel}`, `observer ${d.observer.backend} (${d.observer.why})`, ''];
  for (const c of d.checks) {
    lines.push(`${MARK[c.severity]}  ${c.name}: ${c.detail}`);
    if (!c.ok && c.cost) lines.push(`      costs: ${c.cost}`);
    if (!c.ok && c.fix) lines.push(`      fix:   ${c.fix}`);
  }
  lines.push('', VERDICT[d.severity]);
  return `${lines.join('\n')}\n`;
}

export async function action(opts: { json?: boolean }): Promise<number> {
  const d = diagnose();
  stdout.write(opts.json ? `${JSON.stringify(d, null, 2)}\n` : renderDiagnosis(d));
  return doctorExitCode(d);
}
