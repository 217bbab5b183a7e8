import { diagnose, type Diagnosis } from '../../core/doctor';
import { doctorExitCode } from '../exit-codes';

export function renderDiagnosis(d: Diagnosis): string {
  const lines = [`kernel ${d.kernel}`, `observer ${d.observer.backend} (${d.observer.why})`, ''];
  for (const c of d.checks) {
    lines.push(`${c.ok ? 'ok  ' : 'MISS'}  ${c.name}: ${c.detail}`);
    if (!c.ok && c.cost) lines.push(`      costs: ${c.cost}`);
    if (!c.ok && c.fix) lines.push(`      fix:   ${c.fix}`);
  }
  lines.push('', d.fullyCapable ? 'fully capable' : 'degraded: see MISS lines');
  return `${lines.join('\n')}\n`;
}

export async function action(opts: { json?: boolean }): Promise<number> {
  const d = diagnose();
  process.stdout.write(opts.json ? `${JSON.stringify(d, null, 2)}\n` : renderDiagnosis(d));
  return doctorExitCode(d);
}
