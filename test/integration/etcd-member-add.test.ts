import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalHost } from '../../agent/host/local-host.js';
import { etcdMemberAddOp } from '../../agent/ops/etcd-member-ops.js';
import type { OpContext } from '../../agent/ops/registry.js';
import { Ops } from '../../proto/ops.js';
import { freePort } from './harness.js';
import { startEtcdWithHost, type EtcdWithHost, type RealEtcd } from './etcd-real.js';

/**
 * etcd.memberAdd against a REAL three-member etcd (Debian's etcd 3.4) on loopback, run by a
 * LocalHost over a temp root holding a member's PKI in kubeadm's layout: the add is retried while
 * etcd calls the just-started cluster unhealthy, and the same command again (a controller that
 * crashed after the add and resumed) finds the member and adds nothing.
 */
describe('etcd.memberAdd against a real etcd cluster', () => {
  let etcd: RealEtcd;
  let host: LocalHost;
  const ctx = (): OpContext => ({
    host,
    hostId: 'h-etcd',
    log: pino({ level: 'silent' }),
    signal: new AbortController().signal,
    progress: () => undefined,
  });

  let lab: EtcdWithHost | undefined;

  beforeAll(async () => {
    lab = await startEtcdWithHost('etcd-member-add');
    ({ etcd, host } = lab);
  }, 60_000);
  afterAll(() => lab?.close());

  it('adds a member once: a second run with the same peer URL adds nothing', async () => {
    const peerUrl = `https://127.0.0.1:${await freePort()}`;
    const args = {
      endpoints: etcd.endpoints.slice(0, 1),
      cacert: '/etc/kubernetes/pki/etcd/ca.crt',
      cert: '/etc/kubernetes/pki/etcd/server.crt',
      key: '/etc/kubernetes/pki/etcd/server.key',
      name: 'm4',
      peerUrl,
    };
    expect(Ops['etcd.memberAdd'].args.parse(args)).toEqual(args);
    const first = await etcdMemberAddOp.run(args, ctx());
    expect(Ops['etcd.memberAdd'].result.parse(first)).toEqual(first);
    expect(first.added).toBe(true);
    expect(first.peerUrls).toHaveLength(4);
    expect(first.peerUrls).toContain(peerUrl);
    const again = await etcdMemberAddOp.run(args, ctx());
    expect(again).toEqual({ added: false, peerUrls: first.peerUrls });
    const list = await etcd.etcdctl(['member', 'list']);
    expect(list.stdout.split('\n').filter((l) => l.includes(peerUrl))).toHaveLength(1);
  }, 60_000);
});
