import { describe, expect, it } from 'vitest';
import {
  AdaptiveHandshakeBound,
  eventLoopLag,
  type AdaptiveBoundSettings,
} from './adaptive-handshake-bound.js';
import { ConnectionAdmission, inFlightBounds } from './admission.js';

/**
 * Issue 12, finding 12 (second pass): the handshake bound follows the event loop's lag. A fake
 * clock and a fake lag source drive it; a fixed bound of 256 fails the first two cases.
 */
const SETTINGS: AdaptiveBoundSettings = {
  initial: 256,
  floor: 32,
  ceiling: 1024,
  targetLagMs: 200,
  intervalMs: 250,
  increase: 64,
};

function fakeLoop(settings: Partial<AdaptiveBoundSettings> = {}) {
  let t = 0;
  let lagMs = 0;
  let reads = 0;
  const bound = new AdaptiveHandshakeBound(
    { ...SETTINGS, ...settings },
    {
      readMs: () => {
        reads++;
        return lagMs;
      },
    },
    () => t,
  );
  return {
    bound,
    setLag: (ms: number) => void (lagMs = ms),
    advance: (ms: number) => void (t += ms),
    reads: () => reads,
    /** one interval of a storm: arrivals until the bound refuses, with `inFlight` already running */
    stormInterval(inFlight: number): number {
      let admitted = 0;
      while (bound.admit(inFlight + admitted)) admitted++;
      t += SETTINGS.intervalMs;
      return admitted;
    },
  };
}

describe('adaptive handshake bound', () => {
  it('admits more than 256 handshakes in flight while the event loop keeps up', () => {
    const loop = fakeLoop();
    loop.setLag(5);
    expect(loop.stormInterval(0)).toBe(256);
    // the bound was what refused, and the loop was quiet: it grows interval by interval
    for (let i = 0; i < 4; i++) loop.stormInterval(0);
    expect(loop.bound.current()).toBe(256 + 5 * 64);
    expect(loop.bound.admit(400)).toBe(true);
  });

  it('grows to its ceiling in a long storm on a quiet loop, and no further', () => {
    const loop = fakeLoop();
    for (let i = 0; i < 100; i++) loop.stormInterval(0);
    expect(loop.bound.current()).toBe(1024);
    expect(loop.bound.admit(1023)).toBe(true);
    expect(loop.bound.admit(1024)).toBe(false);
  });

  it('halves when the lag exceeds the target, down to the floor and no lower', () => {
    const loop = fakeLoop();
    loop.stormInterval(0);
    loop.setLag(450);
    loop.advance(250);
    expect(loop.bound.current()).toBe(128);
    expect(loop.bound.admit(128)).toBe(false);
    for (let i = 0; i < 10; i++) loop.stormInterval(0);
    expect(loop.bound.current()).toBe(32);
    expect(loop.bound.admit(31)).toBe(true);
    expect(loop.bound.admit(32)).toBe(false);
  });

  it('a saturated loop sheds: the handshakes already running keep new ones out', () => {
    const loop = fakeLoop();
    loop.setLag(1_000);
    // 300 running from before the loop fell behind; the bound falls under them and stays there
    loop.advance(250);
    expect(loop.stormInterval(300)).toBe(0);
    expect(loop.stormInterval(100)).toBe(0);
    expect(loop.bound.current()).toBe(32);
  });

  it('changes at most once per interval, reading the lag once per change', () => {
    const loop = fakeLoop();
    loop.setLag(1_000);
    for (let i = 0; i < 1000; i++) loop.bound.admit(i);
    loop.advance(249);
    expect(loop.bound.current()).toBe(256);
    expect(loop.reads()).toBe(0);
    loop.advance(1);
    expect(loop.bound.current()).toBe(128);
    expect(loop.bound.current()).toBe(128);
    expect(loop.reads()).toBe(1);
  });

  it('does not grow while nothing reaches it, and drifts back to where it started after a storm', () => {
    const loop = fakeLoop();
    for (let i = 0; i < 10; i++) {
      expect(loop.bound.admit(10)).toBe(true);
      loop.advance(250);
    }
    expect(loop.bound.current()).toBe(256);
    for (let i = 0; i < 5; i++) loop.stormInterval(0);
    expect(loop.bound.current()).toBe(256 + 5 * 64);
    // the storm is over: quiet intervals with a few arrivals
    for (let i = 0; i < 10; i++) {
      loop.bound.admit(3);
      loop.advance(250);
    }
    expect(loop.bound.current()).toBe(256);
    // and back up after a fall, once the loop is quiet again
    loop.setLag(500);
    loop.stormInterval(0);
    loop.setLag(0);
    for (let i = 0; i < 10; i++) {
      loop.advance(250);
      loop.bound.current();
    }
    expect(loop.bound.current()).toBe(256);
  });

  it('refuses settings whose floor is above the ceiling', () => {
    expect(() => fakeLoop({ floor: 100, ceiling: 50 })).toThrow(RangeError);
    expect(ConnectionAdmission.safeParse({ adaptive: { floor: 100, ceiling: 50 } }).success).toBe(false);
  });

  it('controller.json picks a fixed or an adaptive TLS bound; the upgrade bound follows it up, never down', () => {
    let lagMade = 0;
    let t = 0;
    let lagMs = 0;
    const lag = () => {
      lagMade++;
      return { readMs: () => lagMs };
    };
    const fixed = inFlightBounds(ConnectionAdmission.parse({ bound: 'fixed' }), lag, () => t);
    const adaptive = inFlightBounds(ConnectionAdmission.parse({}), lag, () => t);
    expect(lagMade).toBe(1);
    for (const b of [fixed, adaptive]) {
      expect(b.tls.admit(255)).toBe(true);
      expect(b.tls.admit(256)).toBe(false);
      expect(b.upgrades.admit(256)).toBe(false);
    }
    t += 250;
    expect(fixed.tls.current()).toBe(256);
    expect(adaptive.tls.current()).toBe(320);
    expect(adaptive.upgrades.admit(300)).toBe(true);
    // a loop that falls behind halves the TLS bound; finished handshakes still get their upgrade
    lagMs = 900;
    t += 250;
    expect(adaptive.tls.current()).toBe(160);
    expect(adaptive.upgrades.current()).toBe(256);
    expect(adaptive.upgrades.admit(255)).toBe(true);
  });

  it('the real lag source sees a blocked event loop', async () => {
    const lag = eventLoopLag();
    try {
      await new Promise((r) => setTimeout(r, 30));
      lag.readMs();
      const until = Date.now() + 120;
      while (Date.now() < until) {
        // busy: the loop does not turn
      }
      await new Promise((r) => setTimeout(r, 30));
      expect(lag.readMs()).toBeGreaterThanOrEqual(80);
    } finally {
      lag.stop();
    }
  });
});
