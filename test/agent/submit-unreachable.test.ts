/**
 * `ffrtmp submit` (and the library's submitJob) to a Redis that does not answer: a one-line
 * message after --connect-timeout, exit 125, nothing left running. No Redis is needed: the port
 * is a free one nothing listens on.
 */
import { describe, expect, it } from 'vitest';
import { RedisUnreachableError, submitJob } from '../../src/agent/submit';
import { ffrtmp, freePort } from '../helpers';

describe('submit to an unreachable Redis', () => {
  it('gives up after --connect-timeout with one line and exit 125, nothing queued; with --wait as well; CONNECT_TIMEOUT_MS works too', async () => {
    const port = await freePort();
    const t0 = Date.now();
    const r = await ffrtmp(['submit', '--redis', `redis://:secret@127.0.0.1:${port}`, '--queue', 'q', '--connect-timeout', '800', '--job-id', 'nowhere', '--', 'true']);
    const took = Date.now() - t0;
    expect(r.code).toBe(125);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`ffrtmp: Redis at redis://:***@127.0.0.1:${port} did not answer within 0.8 s (ECONNREFUSED): nothing queued (--connect-timeout to wait longer)\n`);
    expect(took).toBeLessThan(5000);

    const w = await ffrtmp(['submit', '--redis', `redis://127.0.0.1:${port}`, '--queue', 'q', '--wait', '--log-format', 'json', '--', 'true'], { env: { CONNECT_TIMEOUT_MS: '500' } });
    expect(w.code).toBe(125);
    const lines = w.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ event: 'redis_unreachable', queue: 'q' });
    expect(JSON.parse(lines[0]!).message ?? JSON.parse(lines[0]!).text ?? lines[0]).toMatch(/did not answer within 0\.5 s/);
  });

  it('submitJob rejects with RedisUnreachableError (code ERR_REDIS_UNREACHABLE) after connectTimeoutMs', async () => {
    const port = await freePort();
    const err = await submitJob({ redisUrl: `redis://127.0.0.1:${port}`, queue: 'q', data: { id: 'lib-nowhere', command: 'true' }, connectTimeoutMs: 500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RedisUnreachableError);
    expect(err).toMatchObject({ code: 'ERR_REDIS_UNREACHABLE', message: expect.stringMatching(/did not answer within 0\.5 s \(ECONNREFUSED\)$/) });
  });
});
