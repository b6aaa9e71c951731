import { describe, expect, it } from 'vitest';
import { mountsUnder, parseStartTime, processStartTime } from './processes.js';

const fields = (comm: string) =>
  `1234 (${comm}) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200 18446744073709551615`;

describe('/proc parsing', () => {
  it.each([
    ['a plain name', 'systemd-nspawn'],
    ['a name with spaces', 'a b c'],
    ['a name with parentheses', 'x) S 9 (y'],
  ])('the start time is read past %s', (_name, comm) => {
    expect(parseStartTime(fields(comm))).toBe('987654');
  });

  it('a stat line without a name gives no start time', () => {
    expect(parseStartTime('garbage')).toBeUndefined();
  });

  it('our own process has a start time and a pid that is not running has none', async () => {
    expect(await processStartTime(process.pid)).toMatch(/^\d+$/);
    expect(await processStartTime(2 ** 22 + 1)).toBeUndefined();
  });

  it('mounts under a directory that has none are an empty list', async () => {
    expect(await mountsUnder('/nonexistent/kctl-lab-test')).toEqual([]);
  });
});
