import { describe, expect, it } from 'vitest';
import { isOriginAllowed, originsFor } from './origin.js';

describe('the Origin allow-list', () => {
  it('derives https origins from the certificate names and the port, skipping wildcard binds', () => {
    expect(originsFor(['localhost', '127.0.0.1', '::1', '0.0.0.0', 'Ctl.Example'], 7444)).toEqual([
      'https://127.0.0.1:7444',
      'https://[::1]:7444',
      'https://ctl.example:7444',
      'https://localhost:7444',
    ]);
  });

  it('writes port 443 the way browsers do: not at all', () => {
    expect(originsFor(['ctl.example'], 443)).toEqual(['https://ctl.example']);
  });

  const allowed = new Set(originsFor(['localhost', '127.0.0.1'], 7444));
  it.each([
    ['the page itself', 'https://127.0.0.1:7444', true],
    ['the page by name, in capitals', 'https://LOCALHOST:7444', true],
    ['the agent/admin port of the same host', 'https://127.0.0.1:7443', false],
    ['plain http on the same port', 'http://127.0.0.1:7444', false],
    ['another site', 'https://evil.example', false],
    ['an opaque origin', 'null', false],
    ['no Origin header', undefined, false],
    ['garbage', 'not a url', false],
  ])('%s is allowed: %s', (_what, origin, ok) => {
    expect(isOriginAllowed(origin, allowed)).toBe(ok);
  });
});
