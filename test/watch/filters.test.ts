/** The filters, as pure functions: every key, both directions, the original's bugs fixed. */
import { describe, expect, it } from 'vitest';
import { evaluate, underDir, type FilterSubject } from '../../src/watch/filters';

const subject: FilterSubject = { uid: 1000, user: 'streamer', ppid: 4242, ageMs: 5000, cwd: '/srv/streams/cam1' };

describe('watch filters', () => {
  it('no filters: pass', () => {
    expect(evaluate(subject, undefined, {}, 'ffmpeg')).toEqual({ pass: true });
  });

  it('directories match by prefix on whole components (the original compared for equality)', () => {
    expect(underDir('/srv/streams/cam1', '/srv/streams')).toBe(true);
    expect(underDir('/srv/streams', '/srv/streams')).toBe(true);
    expect(underDir('/srv/streamsx', '/srv/streams')).toBe(false);
    expect(underDir('/anything', '/')).toBe(true);
    expect(evaluate(subject, undefined, { allowedDirs: ['/srv/streams'] }, 'ffmpeg')).toEqual({ pass: true });
    expect(evaluate(subject, undefined, { allowedDirs: ['/srv/other'] }, 'ffmpeg')).toMatchObject({ pass: false, why: 'filters: its working directory /srv/streams/cam1 is not under allowed_dirs' });
    expect(evaluate(subject, undefined, { blockedDirs: ['/srv'] }, 'ffmpeg')).toMatchObject({ pass: false, why: 'filters: its working directory /srv/streams/cam1 is under blocked_dirs /srv' });
    // An unreadable cwd passes a block list, fails an allow list.
    expect(evaluate({ ...subject, cwd: null }, undefined, { blockedDirs: ['/srv'] }, 'ffmpeg')).toEqual({ pass: true });
    expect(evaluate({ ...subject, cwd: null }, undefined, { allowedDirs: ['/srv'] }, 'ffmpeg')).toMatchObject({ pass: false });
  });

  it('users and uids, allowed and blocked', () => {
    expect(evaluate(subject, undefined, { allowedUsers: ['streamer'] }, 'ffmpeg')).toEqual({ pass: true });
    expect(evaluate(subject, undefined, { allowedUsers: ['other'] }, 'ffmpeg')).toMatchObject({ pass: false, why: 'filters: user streamer is not in allowed_users' });
    expect(evaluate({ ...subject, user: null }, undefined, { allowedUsers: ['streamer'] }, 'ffmpeg')).toMatchObject({ pass: false, why: 'filters: user uid 1000 is not in allowed_users' });
    expect(evaluate(subject, undefined, { blockedUsers: ['streamer'] }, 'ffmpeg')).toMatchObject({ pass: false, why: 'filters: blocked_users has streamer' });
    expect(evaluate(subject, undefined, { allowedUids: [1000] }, 'ffmpeg')).toEqual({ pass: true });
    expect(evaluate(subject, undefined, { allowedUids: [0] }, 'ffmpeg')).toMatchObject({ pass: false, why: 'filters: uid 1000 is not in allowed_uids' });
    expect(evaluate(subject, undefined, { blockedUids: [1000] }, 'ffmpeg')).toMatchObject({ pass: false, why: 'filters: blocked_uids has uid 1000' });
  });

  it('parents', () => {
    expect(evaluate(subject, undefined, { allowedParents: [4242] }, 'ffmpeg')).toEqual({ pass: true });
    expect(evaluate(subject, undefined, { allowedParents: [1] }, 'ffmpeg')).toMatchObject({ pass: false, why: 'filters: its parent 4242 is not in allowed_parents' });
    expect(evaluate(subject, undefined, { blockedParents: [4242] }, 'ffmpeg')).toMatchObject({ pass: false, why: 'filters: blocked_parents has its parent 4242' });
  });

  it('runtime: too old fails; too young is "later", with when to look again', () => {
    expect(evaluate(subject, undefined, { maxRuntimeMs: 1000 }, 'ffmpeg')).toMatchObject({ pass: false, why: 'filters: it has run 5000 ms, more than max_runtime' });
    expect(evaluate(subject, undefined, { minRuntimeMs: 8000 }, 'ffmpeg')).toEqual({ pass: 'later', retryInMs: 3000, why: 'filters: younger than min_runtime' });
    expect(evaluate(subject, undefined, { minRuntimeMs: 5000 }, 'ffmpeg')).toEqual({ pass: true });
  });

  it("the command's filters first, then the global ones: both must pass (ANDed, as the original's code did)", () => {
    expect(evaluate(subject, { allowedUids: [1000] }, { blockedUsers: ['streamer'] }, 'ffmpeg')).toMatchObject({ pass: false, why: 'filters: blocked_users has streamer' });
    expect(evaluate(subject, { blockedUids: [1000] }, {}, 'ffmpeg')).toMatchObject({ pass: false, why: 'commands.ffmpeg.filters: blocked_uids has uid 1000' });
    expect(evaluate(subject, { minRuntimeMs: 10_000 }, { blockedUids: [1000] }, 'ffmpeg')).toMatchObject({ pass: 'later' });
  });
});
