import { describe, expect, it } from 'vitest';
import { Ops, type OpName } from '../../proto/ops.js';
import { agentOps, lazyOp, opLoaders } from './index.js';
import type { OpContext } from './registry.js';

describe('the lazy op registry', () => {
  it.each(Object.keys(Ops) as OpName[])(
    'declares %s with the name, kubeadm lane and secretResult flag of its loaded implementation',
    async (name) => {
      const lazy = agentOps()[name];
      const real = await opLoaders()[name].load();
      expect(lazy.name).toBe(name);
      expect(real.name).toBe(name);
      expect(lazy.exclusive).toBe(real.exclusive);
      expect(lazy.secretResult).toBe(real.secretResult);
    },
  );

  it('runs an op through its loaded implementation', async () => {
    const result = await agentOps().ping.run({}, {} as OpContext);
    expect(result.pong).toBe(true);
  });

  it('tries a failed load again on the next run', async () => {
    const real = await opLoaders().ping.load();
    let calls = 0;
    const ping = lazyOp('ping', {
      load: () => (++calls === 1 ? Promise.reject(new Error('EIO')) : Promise.resolve(real)),
    });
    await expect(ping.run({}, {} as OpContext)).rejects.toThrow('EIO');
    expect((await ping.run({}, {} as OpContext)).pong).toBe(true);
    await ping.run({}, {} as OpContext);
    expect(calls).toBe(2);
  });
});
