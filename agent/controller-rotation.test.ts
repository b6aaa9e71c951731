import { describe, expect, it } from 'vitest';
import { backoffDelay, ControllerRotation } from './controller-rotation.js';

const URLS = ['https://c1:7443', 'https://c2:7443', 'https://c3:7443'];

describe('controller rotation', () => {
  it.each([
    [0, 'https://c1:7443'],
    [0.34, 'https://c2:7443'],
    [0.999999, 'https://c3:7443'],
  ])('starts at the replica the random draw %d picks', (draw, url) => {
    expect(new ControllerRotation(URLS, () => draw).current()).toBe(url);
  });

  it('starts at the remembered replica when it is still configured, else at a random one', () => {
    expect(new ControllerRotation(URLS, () => 0, 'https://c3:7443').current()).toBe('https://c3:7443');
    expect(new ControllerRotation(URLS, () => 0.5, 'https://gone:7443').current()).toBe('https://c2:7443');
  });

  it('spreads a fleet over the replicas', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const url = new ControllerRotation(URLS, Math.random).current();
      counts.set(url, (counts.get(url) ?? 0) + 1);
    }
    for (const url of URLS) expect(counts.get(url)).toBeGreaterThan(850);
  });

  it('moves to the next replica on each failure and grows the backoff exponent once per full round', () => {
    const r = new ControllerRotation(URLS, () => 0.5);
    const seen: Array<[string, number]> = [];
    for (let i = 0; i < 7; i++) {
      const url = r.current();
      seen.push([url, r.failed()]);
    }
    expect(seen).toEqual([
      ['https://c2:7443', 0],
      ['https://c3:7443', 0],
      ['https://c1:7443', 0],
      ['https://c2:7443', 1],
      ['https://c3:7443', 1],
      ['https://c1:7443', 1],
      ['https://c2:7443', 2],
    ]);
  });

  it('with one controller grows the exponent per failure, exactly as before replicas', () => {
    const r = new ControllerRotation(['https://only:7443'], Math.random);
    expect([r.failed(), r.failed(), r.failed()]).toEqual([0, 1, 2]);
    expect(r.current()).toBe('https://only:7443');
  });

  it('a welcome resets the backoff and is remembered as the last good replica', () => {
    const r = new ControllerRotation(URLS, () => 0);
    expect(r.lastGood()).toBeUndefined();
    r.failed();
    r.failed();
    r.failed();
    r.failed(); // now on c2, one full round failed
    r.connected();
    expect(r.lastGood()).toBe('https://c2:7443');
    // the session is lost: the next dial goes to c3, with the first-failure backoff again
    expect(r.failed()).toBe(0);
    expect(r.current()).toBe('https://c3:7443');
    expect(r.lastGood()).toBe('https://c2:7443');
  });

  it('refuses an empty list', () => {
    expect(() => new ControllerRotation([], Math.random)).toThrow('controllers: no controller URL to dial');
  });

  it('draws attempt k over three replicas from the one-controller window of attempt floor(k / 3)', () => {
    // the ceiling of attempt k with N replicas is the one-controller ceiling of attempt floor(k / N) <= k
    for (let k = 0; k < 20; k++) {
      const r = new ControllerRotation(URLS, () => 0);
      let exponent = 0;
      for (let i = 0; i <= k; i++) exponent = r.failed();
      expect(backoffDelay(exponent, 500, 30_000, () => 0.999999)).toBe(
        Math.min(30_000, 500 * 2 ** Math.floor(k / 3)) - 1,
      );
    }
  });
});
