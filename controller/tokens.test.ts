import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// pass-through spies on node:crypto: a test can script randomInt or count timingSafeEqual calls
const spy = vi.hoisted(() => ({
  scriptedInts: undefined as number[] | undefined,
  randomIntCalls: [] as number[],
  timingSafeEqualCalls: [] as [number, number][],
}));
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return {
    ...real,
    randomInt: (max: number): number => {
      spy.randomIntCalls.push(max);
      return spy.scriptedInts ? (spy.scriptedInts.shift() ?? 0) : real.randomInt(max);
    },
    timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView): boolean => {
      spy.timingSafeEqualCalls.push([a.byteLength, b.byteLength]);
      return real.timingSafeEqual(a, b);
    },
  };
});

const {
  DEFAULT_TOKEN_TTL_MS,
  DEFAULT_TOKEN_USES,
  MAX_TOKEN_TTL_MS,
  TOKEN_PATTERN,
  generateToken,
  hashTokenSecret,
  isExpired,
  parseDuration,
  parseTokenString,
  parseTokenTtl,
  verifyTokenSecret,
} = await import('./tokens.js');
const { KctlError } = await import('../proto/errors.js');

beforeEach(() => {
  spy.scriptedInts = undefined;
  spy.randomIntCalls = [];
  spy.timingSafeEqualCalls = [];
});
afterEach(() => {
  spy.scriptedInts = undefined;
});

function thrown(fn: () => unknown): InstanceType<typeof KctlError> {
  try {
    fn();
  } catch (err) {
    if (err instanceof KctlError) return err;
    throw err;
  }
  throw new Error('expected a KctlError');
}

describe('S1 limits', () => {
  it('default to a 1 h TTL, at most 24 h, and one use', () => {
    expect(DEFAULT_TOKEN_TTL_MS).toBe(3_600_000);
    expect(MAX_TOKEN_TTL_MS).toBe(86_400_000);
    expect(DEFAULT_TOKEN_USES).toBe(1);
  });
});

describe('generateToken', () => {
  it('has the kubeadm format and its parts agree with the whole', () => {
    const { id, secret, token } = generateToken();
    expect(token).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    expect(token).toBe(`${id}.${secret}`);
    expect(parseTokenString(token)).toEqual({ id, secret });
  });

  it('draws every character with randomInt over the 36-letter alphabet (no modulo bias)', () => {
    spy.scriptedInts = Array.from({ length: 22 }, (_, i) => i + 14);
    expect(generateToken()).toEqual({
      id: 'opqrst',
      secret: 'uvwxyz0123456789',
      token: 'opqrst.uvwxyz0123456789',
    });
    expect(spy.randomIntCalls).toEqual(Array<number>(22).fill(36));
  });

  it('gives 1000 distinct tokens and secrets', () => {
    const tokens = Array.from({ length: 1000 }, () => generateToken());
    expect(new Set(tokens.map((t) => t.token)).size).toBe(1000);
    expect(new Set(tokens.map((t) => t.secret)).size).toBe(1000);
    for (const t of tokens) expect(t.token).toMatch(TOKEN_PATTERN);
  });

  it('uses every letter of the alphabet about equally often', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 1000; i++) {
      for (const ch of generateToken().secret) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    }
    // 16000 draws over 36 letters: about 444 each, standard deviation about 21
    expect(counts.size).toBe(36);
    for (const n of counts.values()) {
      expect(n).toBeGreaterThan(300);
      expect(n).toBeLessThan(600);
    }
  });

  it('gives a different value when a token is rotated (Rancher 43755)', () => {
    const first = generateToken();
    const rotated = generateToken();
    expect(rotated.token).not.toBe(first.token);
    expect(rotated.secret).not.toBe(first.secret);
    expect(hashTokenSecret(rotated.secret)).not.toBe(hashTokenSecret(first.secret));
  });
});

describe('hashTokenSecret', () => {
  it('is the SHA-256 hex of the secret', () => {
    // printf abcdef0123456789 | sha256sum
    expect(hashTokenSecret('abcdef0123456789')).toBe(
      'f445801e0cb899262c9b9e219836880d73ca2d1b0b9c15fb959c90eb121234e3',
    );
  });

  it('never contains the secret', () => {
    const { secret } = generateToken();
    expect(hashTokenSecret(secret)).not.toContain(secret);
  });
});

describe('verifyTokenSecret', () => {
  const secret = 'abcdef0123456789';
  const hash = hashTokenSecret(secret);

  it.each([
    ['accepts the secret the hash was made from', secret, hash, true],
    ['refuses a secret that differs in one character', 'abcdef0123456788', hash, false],
    ['refuses the whole token instead of the secret', `abcdef.${secret}`, hash, false],
    ['refuses an empty secret', '', hash, false],
    ['refuses the secret in upper case', secret.toUpperCase(), hash, false],
    ['refuses against a truncated hash', secret, hash.slice(0, 62), false],
    ['refuses against a hash in upper case', secret, hash.toUpperCase(), false],
    ['refuses against a hash that is not hex', secret, 'z'.repeat(64), false],
    ['refuses against an empty hash', secret, '', false],
  ])('%s', (_name, presented, stored, expected) => {
    expect(verifyTokenSecret(presented, stored)).toBe(expected);
  });

  it('compares the two 32-byte digests with timingSafeEqual', () => {
    expect(verifyTokenSecret(secret, hash)).toBe(true);
    expect(verifyTokenSecret('abcdef0123456788', hash)).toBe(false);
    expect(spy.timingSafeEqualCalls).toEqual([
      [32, 32],
      [32, 32],
    ]);
  });

  it('accepts a freshly generated token and refuses another one', () => {
    const issued = generateToken();
    const other = generateToken();
    const stored = hashTokenSecret(issued.secret);
    expect(verifyTokenSecret(parseTokenString(issued.token).secret, stored)).toBe(true);
    expect(verifyTokenSecret(other.secret, stored)).toBe(false);
  });
});

describe('parseTokenString', () => {
  it('splits a token into id and secret', () => {
    expect(parseTokenString('abc123.0123456789abcdef')).toEqual({ id: 'abc123', secret: '0123456789abcdef' });
  });

  it.each([
    ['an empty string', ''],
    ['upper-case letters', 'ABC123.0123456789abcdef'],
    ['an id of five characters', 'abc12.0123456789abcdef'],
    ['a secret of seventeen characters', 'abc123.0123456789abcdefg'],
    ['no dot', 'abc1230123456789abcdef'],
    ['a colon instead of a dot', 'abc123:0123456789abcdef'],
    ['a trailing newline', 'abc123.0123456789abcdef\n'],
    ['leading white space', ' abc123.0123456789abcdef'],
    ['a dash in the secret', 'abc123.0123456789abcde-'],
  ])('refuses %s with token_invalid, without echoing the input', (_what, text) => {
    const err = thrown(() => parseTokenString(text));
    expect(err.code).toBe('token_invalid');
    if (text.trim() !== '') expect(err.message).not.toContain(text.trim());
  });
});

describe('isExpired (Salt 3144)', () => {
  const expiresAt = 1_700_000_000_000;
  it.each([
    ['is not expired one millisecond before expiry', expiresAt - 1, false],
    ['is expired at the expiry instant itself', expiresAt, true],
    ['is expired one millisecond after expiry', expiresAt + 1, true],
  ])('%s', (_name, now, expected) => {
    expect(isExpired(expiresAt, now)).toBe(expected);
  });
});

describe('parseDuration', () => {
  it.each([
    ['24h', 86_400_000],
    ['30m', 1_800_000],
    ['90s', 90_000],
    ['1h30m', 5_400_000],
    ['1h30m15s', 5_415_000],
    ['2m30s', 150_000],
    ['1h0m', 3_600_000],
    ['90m', 5_400_000],
  ])('reads %s as %i ms', (text, ms) => {
    expect(parseDuration(text, '--ttl')).toBe(ms);
  });

  it.each([
    ['an empty string', ''],
    ['a bare number', '30'],
    ['days', '1d'],
    ['upper-case units', '1H'],
    ['a fraction', '1.5h'],
    ['a negative value', '-1h'],
    ['units out of order', '30m1h'],
    ['a repeated unit', '1h1h'],
    ['white space', '1h 30m'],
    ['a unit without a number', 'h'],
    ['zero', '0s'],
    ['zero in every unit', '0h0m0s'],
  ])('refuses %s with an error naming the flag', (_what, text) => {
    const err = thrown(() => parseDuration(text, '--ttl'));
    expect(err.code).toBe('invalid_args');
    expect(err.message).toMatch(/^--ttl: /);
    expect(err.message).toContain(`"${text}"`);
  });
});

describe('parseTokenTtl', () => {
  it.each([
    ['defaults to 1 h when no flag is given', undefined, 3_600_000],
    ['accepts the 24 h maximum', '24h', 86_400_000],
    ['accepts 30 minutes', '30m', 1_800_000],
  ])('%s', (_name, text, ms) => {
    expect(parseTokenTtl(text)).toBe(ms);
  });

  it.each(['25h', '24h1s', '1441m'])('refuses %s as longer than 24 h, naming the flag', (text) => {
    const err = thrown(() => parseTokenTtl(text, '--ttl'));
    expect(err.code).toBe('invalid_args');
    expect(err.message).toMatch(/^--ttl: .*24h/);
  });
});
