/**
 * Redis addresses and connection settings for the agent and `ffrtmp submit` (no Redis client is
 * loaded here: this file is read when the command line is checked).
 *
 * BullMQ needs, on every connection a Worker uses, ioredis' `maxRetriesPerRequest: null`: a
 * command issued while Redis is unreachable waits for the reconnection instead of failing after
 * 20 tries (measured here: docs/agent.md "Facts"). The connection reconnects by itself, forever,
 * with BullMQ's backoff (e^n ms, from 1 s up to 20 s between attempts).
 */
import { UsageError } from '../model/errors';
import { quote } from '../model/quote';

/** `redis://[user:password@]host[:port][/db]` or `rediss://…` (TLS). Throws UsageError. */
export function validateRedisUrl(value: string, flag = '--redis'): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new UsageError(`${flag} ${quote(redactUrl(value))} is not a URL: expected redis://host:port (or rediss:// for TLS)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new UsageError(`${flag} ${quote(redactUrl(value))}: expected a redis:// or rediss:// URL`);
  }
  if (u.hostname === '') throw new UsageError(`${flag} ${quote(redactUrl(value))}: no host`);
  if (u.pathname !== '' && u.pathname !== '/' && !/^\/\d+$/.test(u.pathname)) {
    throw new UsageError(`${flag} ${quote(redactUrl(value))}: the path must be a database number (/0 ... /15)`);
  }
  return value;
}

/** The URL without its password, for messages and the start banner. */
export function redactUrl(value: string): string {
  try {
    const u = new URL(value);
    if (u.password !== '') u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return value.replace(/\/\/[^@/]*@/, '//***@');
  }
}

/** Connection options for BullMQ (its RedisConnection takes `url`). */
export function connectionOptions(url: string): { url: string; maxRetriesPerRequest: null } {
  return { url, maxRetriesPerRequest: null };
}

/** BullMQ queue names cannot contain `:` (its key separator). Throws UsageError. */
export function validateQueueName(name: string, flag = '--queue'): string {
  if (name === '' || name.length > 200 || !/^[A-Za-z0-9._@+-]+$/.test(name)) {
    throw new UsageError(`${flag} ${quote(name)} is not a queue name: letters, digits and . _ - @ + (BullMQ reserves ":")`);
  }
  return name;
}

/** Is this error Redis being unreachable (as opposed to a refusal by a BullMQ script)? */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (typeof e?.code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EPIPE|EHOSTUNREACH|ENETUNREACH)$/.test(e.code)) return true;
  return typeof e?.message === 'string' && /Connection is closed|connect ECONNREFUSED|Stream isn't writeable|Reached the max retries/.test(e.message);
}
