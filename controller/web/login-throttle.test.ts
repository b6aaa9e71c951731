import { describe, expect, it } from 'vitest';
import { LoginThrottle } from './login-throttle.js';

describe('login throttle', () => {
  it('blocks an address after its failures fill the window, and forgets them after it', () => {
    const clock = { now: 0 };
    const t = new LoginThrottle(3, 1000, () => clock.now);
    for (let i = 0; i < 3; i++) {
      expect(t.blocked('10.0.0.1')).toBe(false);
      t.fail('10.0.0.1');
    }
    expect(t.blocked('10.0.0.1')).toBe(true);
    expect(t.blocked('10.0.0.2')).toBe(false);
    clock.now = 1001;
    expect(t.blocked('10.0.0.1')).toBe(false);
  });

  it('clears an address at a successful login', () => {
    const t = new LoginThrottle(1, 1000, () => 0);
    t.fail('a');
    t.succeed('a');
    expect(t.blocked('a')).toBe(false);
  });
});
