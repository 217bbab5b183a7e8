import { InvalidArgumentError } from 'commander';

/** Commander argument parsers: strict, with messages that say what was expected. */

/** A PID as typed by a human: digits only (no sign, no hex, no spaces). Range is checked by the core. */
export function parsePid(value: string, previous: number[] = []): number[] {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a process id (expected a positive whole number)`);
  return [...previous, Number(value)];
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
