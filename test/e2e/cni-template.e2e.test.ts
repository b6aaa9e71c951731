import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseClusterSpec } from '../../controller/spec/parse.js';
import { cniManifestFor } from '../../controller/render/cni/cni-inputs.js';
import { readState } from '../standins/cluster-state.js';
import { parseManifest } from '../standins/kubectl-apply.js';
import { kctl } from '../integration/harness.js';
import { labHosts, startLab, type Lab } from '../integration/ha-lab.js';

/**
 * Not in `npm test` (about a minute: a controller, two agents, a whole apply); scripts/e2e.sh runs it
 * with the booted-host suite, and it needs no root: `npx vitest run --config
 * test/e2e/vitest.e2e.config.ts test/e2e/cni-template.e2e.test.ts`.
 *
 * Issue 14 part 4 end to end on the stand-ins: a cluster.yaml with no cni.manifest gets kctl's
 * flannel template, rendered with its podSubnet and MTU, shown by `kctl plan` and applied by the CNI
 * phase after init and the joins; and kube-vip's manifest names the private imageRepository.
 */
describe('the CNI template on a one-control-plane, one-worker stand-in cluster', () => {
  let lab: Lab;
  let text = '';
  beforeAll(async () => {
    lab = await startLab({ hosts: labHosts(1, 1) });
    text = (await readFile(lab.clusterFile, 'utf8'))
      .replace('cni: {plugin: calico, manifest: cni.yaml}', 'cni: {plugin: flannel, mtu: 1400}')
      .replace(
        'packages: {source: preinstalled}',
        'packages: {source: preinstalled}\nimageRepository: registry.example:5000/k8s\nnetworking: {podSubnet: 10.250.0.0/16}',
      );
    await writeFile(lab.clusterFile, text);
  }, 120_000);
  afterAll(() => lab.close());

  it('plans and applies the rendered template after init and the joins', { timeout: 120_000 }, async () => {
    const plan = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(
      "cp-1: kubectl apply flannel — kubectl apply flannel v0.26.7 (kctl's template: podSubnet 10.250.0.0/16, MTU 1400)",
    );

    const apply = await kctl(['apply', '-f', lab.clusterFile], { env: lab.env });
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);

    const calls = await lab.calls();
    const order = calls
      .filter(
        (c) =>
          (c.tool === 'kubeadm' && ['init', 'join'].includes(c.argv[0] ?? '') && c.argv[1] !== 'phase') ||
          (c.tool === 'kubectl' && c.argv.includes('apply')),
      )
      .map((c) => `${c.tool} ${c.tool === 'kubectl' ? 'apply' : (c.argv[0] ?? '')}`);
    expect(order).toEqual(['kubeadm init', 'kubeadm join', 'kubectl apply']);

    // the API server holds exactly the objects of the template rendered from this cluster.yaml
    const parsed = parseClusterSpec(text);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    const rendered = parseManifest(cniManifestFor(parsed.spec, undefined)?.content ?? '', 'cni.yaml');
    if ('error' in rendered) throw new Error(rendered.error);
    const cfg = rendered.objects.find((o) => o.kind === 'ConfigMap');
    expect(JSON.stringify(cfg)).toContain('10.250.0.0/16');
    const state = readState(lab.clusterDir);
    const record = state.resources.find((r) => r.kind === 'ConfigMap' && r.name === 'kube-flannel-cfg');
    expect(record?.sha256).toBe(createHash('sha256').update(JSON.stringify(cfg)).digest('hex'));
    expect(state.cni?.name).toBe('flannel');
    expect(state.cluster?.clusterConfiguration.imageRepository).toBe('registry.example:5000/k8s');

    const kubeVip = await readFile(
      join(lab.agents[0]!.hostRoot, 'etc/kubernetes/manifests/kube-vip.yaml'),
      'utf8',
    );
    expect(kubeVip).toContain('image: registry.example:5000/k8s/kube-vip/kube-vip:v1.2.3');
  });
});
