/**
 * Commander's own usage errors, in our shape: one line, starting `ffrtmp: ` like every error of
 * ours, with what the user typed cut short (src/model/quote.ts), and a hint at `--help`.
 * `error: unknown option '--x'` becomes `ffrtmp: unknown option '--x' (see ffrtmp run --help)`.
 */
import type { Command } from 'commander';
import { quote, QUOTE_MAX } from '../model/quote';

/** A value commander echoed: kept in its single quotes when short and printable, else quote(). */
function echoed(value: string): string {
  return value.length <= QUOTE_MAX && /^[\x20-\x7e]*$/.test(value) && !value.includes("'") ? `'${value}'` : quote(value);
}

/** The words that call a command: `ffrtmp jobs list`. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * One commander error message → one line (with its newline). Pure. The messages that echo user
 * input (an unknown option or command, an invalid option value) have the value cut short;
 * commander's "(Did you mean --json?)" stays, on the same line (", did you mean --json?").
 */
export function commanderErrorLine(message: string, path: string): string {
  let msg = message.replace(/\s+$/, '').replace(/^error: /, '');
  let m: RegExpExecArray | null;
  if ((m = /^(unknown option|unknown command) '([\s\S]*)'(\n\(Did you mean [^\n]*\))?$/.exec(msg))) {
    const suggestion = m[3] === undefined ? '' : `, d${m[3].trim().slice(2, -1)}`; // "(Did you mean --json?)" → ", did you mean --json?"
    msg = `${m[1]} ${echoed(m[2]!)}${suggestion}`;
  } else if ((m = /^option '([^']*)' argument '([\s\S]*)' is invalid\.( [\s\S]*)?$/.exec(msg))) {
    msg = `option '${m[1]}' argument ${echoed(m[2]!)} is invalid.${m[3] ?? ''}`;
  } else if ((m = /^command-argument value '([\s\S]*)' is invalid for argument '([^']*)'\.( [\s\S]*)?$/.exec(msg))) {
    msg = `argument '${m[2]}' value ${echoed(m[1]!)} is invalid.${m[3] ?? ''}`;
  }
  return `ffrtmp: ${msg.replace(/\s*\n\s*/g, ' ').replace(/\.$/, '')} (see ${path} --help)\n`;
}

/**
 * On `cmd` and every subcommand: commander's errors as one `ffrtmp: ` line, and thrown instead
 * of exiting (src/cli/cli.ts maps them to exit status 2; --help and --version to 0).
 */
export function configureErrors(cmd: Command): void {
  const path = commandPath(cmd);
  cmd.exitOverride();
  cmd.configureOutput({ outputError: (str, write) => write(commanderErrorLine(str, path)) });
  for (const sub of cmd.commands) configureErrors(sub);
}
