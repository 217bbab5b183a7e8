/**
 * User input echoed in a message. An error line must stay one short line whatever was typed: a
 * 5,000-character value, a newline or a quote in a flag value must not come back whole.
 */

/** The default number of characters of a value shown before it is cut. */
export const QUOTE_MAX = 60;

/**
 * `value` as a JSON string (control characters, quotes and backslashes escaped, so it cannot
 * break the line), cut after `max` characters with `…` and the original length:
 * `"aaaa…" (5000 characters)`.
 */
export function quote(value: string, max: number = QUOTE_MAX): string {
  const chars = Array.from(String(value)); // code points: a cut never splits a surrogate pair
  if (chars.length <= max) return JSON.stringify(chars.join(''));
  return `${JSON.stringify(`${chars.slice(0, max).join('')}…`)} (${chars.length} characters)`;
}

/** Characters that read unambiguously without quotes in a message (paths, names, flags). */
const PLAIN = /^[A-Za-z0-9._/:@+,=%~^-]+$/;

/** The default for shown(): paths are often longer than a flag value, and still worth showing whole. */
export const SHOWN_MAX = 160;

/**
 * `value` as it is when it is short and plain (a command name, a path: `ffmpegx`,
 * `/srv/state`), else `quote(value, max)`.
 */
export function shown(value: string, max: number = SHOWN_MAX): string {
  const s = String(value);
  return s.length <= max && PLAIN.test(s) ? s : quote(s, max);
}
