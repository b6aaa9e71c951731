import { describe, expect, it } from 'vitest';
import { SessionStore, parseCookies, secretsEqual, sessionCookie, SESSION_COOKIE } from './sessions.js';

describe('fleet page sessions', () => {
  const clock = { now: 0 };
  const store = (): SessionStore =>
    new SessionStore({ absoluteMs: 1000, idleMs: 300, max: 3 }, () => clock.now);
  const who = { kind: 'web-token', tokenId: 'abcdefgh' } as const;

  it('makes a fresh random id and token for every session', () => {
    const s = store();
    const a = s.create(who, false);
    const b = s.create(who, false);
    expect(a.id).not.toBe(b.id);
    expect(a.csrfToken).not.toBe(b.csrfToken);
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.csrfToken).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each([
    ['used within the idle limit', [100, 200, 300, 400], 400, true],
    ['idle for the idle limit exactly', [], 300, false],
    ['at its absolute limit even when used', [250, 500, 750, 999], 1000, false],
  ])('a session %s is live: %s', (_what, uses, at, live) => {
    clock.now = 0;
    const s = store();
    const session = s.create(who, true);
    for (const t of uses) {
      clock.now = t;
      s.get(session.id);
    }
    clock.now = at;
    expect(s.get(session.id) !== undefined).toBe(live);
  });

  it('drops the oldest sessions beyond the limit', () => {
    clock.now = 0;
    const s = store();
    const first = s.create(who, false);
    for (let i = 0; i < 3; i++) s.create(who, false);
    expect(s.size()).toBe(3);
    expect(s.get(first.id)).toBeUndefined();
  });

  it('ends the sessions a predicate picks', () => {
    clock.now = 0;
    const s = store();
    const keep = s.create({ kind: 'admin-cert', name: 'admin' }, false);
    s.create(who, false);
    expect(s.deleteWhere((x) => x.principal.kind === 'web-token')).toBe(1);
    expect(s.get(keep.id)).toBeDefined();
  });
});

describe('cookies', () => {
  it.each([
    ['a=1; b=2', 'b', '2'],
    ['a=1;b=x=y', 'b', 'x=y'],
    ['a=1; a=2', 'a', '1'],
    ['junk; =3; c=', 'c', ''],
  ])('reads %j: %s is %j', (header, name, value) => {
    expect(parseCookies(header).get(name)).toBe(value);
  });

  it('writes the session cookie HttpOnly, Secure, SameSite=Strict, with the __Host- prefix', () => {
    expect(sessionCookie('v', 60)).toBe(
      `${SESSION_COOKIE}=v; Path=/; Max-Age=60; HttpOnly; Secure; SameSite=Strict`,
    );
    expect(SESSION_COOKIE.startsWith('__Host-')).toBe(true);
  });

  it.each([
    ['abc', 'abc', true],
    ['abc', 'abd', false],
    ['abc', 'abcd', false],
    ['', '', true],
  ])('compares %j and %j as equal: %s', (a, b, equal) => {
    expect(secretsEqual(a, b)).toBe(equal);
  });
});
