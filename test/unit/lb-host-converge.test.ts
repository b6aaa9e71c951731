import { afterEach, describe, expect, it } from 'vitest';
import { ClusterSpec } from '../../proto/cluster-spec.js';
import { lbHostSpec } from '../../controller/plan/lb-host-spec.js';
import { haproxyKeepalivedFiles } from '../../controller/render/haproxy-keepalived-inputs.js';
import { tempHost, type TempHost } from '../fixtures/temp-host.js';

/**
 * The files kctl renders for HAProxy and keepalived (lb hosts and control planes) are ones the
 * agent may write (S16's allow-list), with their modes, on a host where /etc/haproxy and
 * /etc/keepalived do not exist yet (files go in before the packages).
 */

const CPS = [
  { name: 'cp-1', address: '198.18.0.11' },
  { name: 'cp-2', address: '198.18.0.12' },
];
const LBS = [
  { name: 'lb-1', address: '198.18.0.31' },
  { name: 'lb-2', address: '198.18.0.32' },
];
const spec = (port: number, lb: boolean): ClusterSpec =>
  ClusterSpec.parse({
    apiVersion: 'kctl.dev/v1alpha1',
    kind: 'Cluster',
    name: 'lb',
    kubernetesVersion: 'v1.31.2',
    controlPlaneEndpoint: { host: '198.18.0.100', port },
    ha: { mode: 'haproxy-keepalived', interface: 'eth0', vip: '198.18.0.100' },
    hosts: [
      ...(lb ? LBS.map((h) => ({ ...h, role: 'lb' })) : []),
      ...CPS.map((h) => ({ ...h, role: 'control-plane' })),
    ],
  });

describe('HAProxy and keepalived files on a host', () => {
  let t: TempHost | undefined;
  afterEach(async () => {
    await t?.cleanup();
    t = undefined;
  });

  it.each([
    [
      'an lb host',
      () =>
        lbHostSpec(spec(6443, true), LBS[0]!, { balancers: LBS, controlPlanes: CPS, packageFormat: 'deb' })
          .files,
    ],
    [
      'a control plane',
      () => haproxyKeepalivedFiles(spec(8443, false), { name: 'cp-1', role: 'control-plane' }, CPS),
    ],
  ])('are written on %s, with their modes', async (_name, files) => {
    t = await tempHost();
    const wanted = files();
    expect(wanted).toHaveLength(3);
    for (const f of wanted) {
      await t.host.writeFileAtomic(f.path, f.content, { mode: f.mode });
      expect(await t.host.readFile(f.path)).toBe(f.content);
      expect((await t.host.stat(f.path))?.mode).toBe(f.mode);
    }
  });
});
