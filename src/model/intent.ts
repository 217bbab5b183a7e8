import { UsageError } from './errors';
import { quote } from './quote';

/**
 * The intent (`production`, `test`, ...) is a label that lands in the summary line and in
 * Prometheus-adjacent JSON, so it is a short token: no `|`, spaces or control characters that
 * would break the line humans grep.
 */
const INTENT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function validateIntent(intent: string): string {
  if (!INTENT_PATTERN.test(intent)) {
    throw new UsageError(
      `intent ${quote(intent)} is not allowed: 1-64 characters of letters, digits, . _ - ` +
        `starting with a letter or digit`,
    );
  }
  return intent;
}
