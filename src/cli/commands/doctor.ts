import { Command } from 'commander';
import { diagnose, type Diagnosis } from '../../core/doctor';

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

/** `ffrtmp doctor`: one screen; exit 0 only when fully capable. */
export function doctorCommand(): Command {
  return new Command('doctor')
    .description('show what this host and build can do, and what each missing piece costs')
    .option('--json', 'print the diagnosis as JSON')
    .action((opts: { json?: boolean }) => {
      const d = diagnose();
      process.stdout.write(opts.json ? `${JSON.stringify(d, null, 2)}\n` : renderDiagnosis(d));
      process.exitCode = d.fullyCapable ? 0 : 1;
    });
}
