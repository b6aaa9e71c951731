import { describe, expect, it } from 'vitest';
import { parseSwaps } from '../probes/swaps.js';
import { judgeSwap } from './swap.js';

const HEADER = 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n';

describe('judgeSwap', () => {
  it.each([
    ['no swap', HEADER, 'ok'],
    ['an empty file', '', 'ok'],
    ['a swap file turned back on', `${HEADER}/swap.img file 2097148 0 -2\n`, 'critical'],
    ['a swap partition', `${HEADER}/dev/sda3 partition 999420 12 -3\n`, 'critical'],
  ] as const)('%s', (_name, text, severity) => {
    const r = judgeSwap(parseSwaps(text));
    expect(r.severity).toBe(severity);
    if (severity === 'critical') expect(r.remedy).toContain('swapoff -a');
  });
});
