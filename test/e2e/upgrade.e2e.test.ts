import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labExec } from '../../lab/exec.js';
import { LAB_BRIDGE_ADDRESS } from '../../lab/network.js';
import { labDown, labLeftovers } from '../../lab/teardown.js';
import type { ProcessRef } from '../../lab/state.js';
import { PlanView } from '../../proto/plan-api.js';
import { labSkipReason } from '../lab/lab-env.js';
import {
  clusterYaml,
  kctl,
  standinCalls,
  startFleetLab,
  stopController,
  type FleetLab,
} from './fleet-lab.js';
import { buildPkgsMirror, makeMirrorPki, startPkgsMirror, type PkgsMirror } from './pkgs-mirror.js';

/**
 * Issue 11's upgrades on the fleet lab (3 control planes + 2 workers, booted Debian hosts): apply
 * v1.31.2 from the offline bundle, which holds the kubeadm/kubelet/kubectl STAND-IN packages at
 * v1.31.2, v1.31.3 and v1.32.0; edit cluster.yaml to the next patch (plan shows the upgrade per
 * host, one apply upgrades every host, packages held at the new version, kubelets restarted, every
 * Node reports the new version, the next plan is empty); a downgrade edit is refused; then the
 * next minor from a local HTTPS mirror laid out like pkgs.k8s.io (one repository per minor, test
 * CA the hosts trust, test signing key), so the package source moves to the v1.32 repository.
 * The stand-in kubelet reports a new version only after its unit restarted (test/standins/README.md).
 */
const reason = await labSkipReason();
if (reason !== undefined) console.warn(`e2e skipped: ${reason}`);

const WORK = '/var/tmp/kctl-e2e-upgrade';
const LAB_DIR = '/var/tmp/kctl-e2e-upgrade-lab';
const PORT = 17445;
// not PORT + 1: the controller's fleet page listens there
const MIRROR_PORT = 17449;
const FIRST = 'v1.31.2';
const PATCH = 'v1.31.3';
const MINOR = 'v1.32.0';
const KUBE_PACKAGES = ['kubeadm', 'kubelet', 'kubectl'];

const debVersion = (v: string) => `${v.slice(1)}-1.1`;
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe.skipIf(reason !== undefined)(
  `cluster upgrades on a 5-host lab: next patch from the bundle, next minor from a pkgs.k8s.io-like mirror${reason ? ` (skipped: ${reason})` : ''}`,
  () => {
    let lab: FleetLab;
    let mirror: PkgsMirror | undefined;
    let controller: ProcessRef | undefined;
    const started = Date.now();
    const say = (m: string) =>
      console.log(`[e2e upgrade ${((Date.now() - started) / 1000).toFixed(0)}s] ${m}`);
    const env = () => ({ KCTL_CONFIG: lab.clientConfig });
    const inHost = (host: string, argv: string[]) => labExec(host, argv, { dir: LAB_DIR });

    beforeAll(async () => {
      await labDown({ dir: LAB_DIR });
      // the mirror's CA exists before the hosts boot, so they trust it before any apt run
      const pki = await makeMirrorPki(join('/var/tmp', 'kctl-e2e-upgrade-mirror-pki'), LAB_BRIDGE_ADDRESS);
      lab = await startFleetLab(
        {
          work: WORK,
          labDir: LAB_DIR,
          controlPlanes: 3,
          workers: 2,
          port: PORT,
          kubernetesVersion: FIRST,
          standinVersions: [FIRST, PATCH, MINOR],
          trustedCAs: [{ name: 'kctl-test-mirror', pem: pki.caCertPem }],
          log: say,
        },
        (ref) => (controller = ref),
      );
      await rm(join('/var/tmp', 'kctl-e2e-upgrade-mirror-pki'), { recursive: true, force: true });
      const content = await buildPkgsMirror(
        join(WORK, 'mirror'),
        lab.standinDebs.map((d) => ({ kubernetesVersion: d.kubernetesVersion, path: d.path })),
      );
      // on the lab bridge (198.18.0.1), never a non-local address
      mirror = await startPkgsMirror({ content, pki, address: LAB_BRIDGE_ADDRESS, port: MIRROR_PORT });
      say(`mirror ${mirror.url} serves ${mirror.minors.join(', ')}`);
    });

    afterAll(async () => {
      await mirror?.close();
      if (process.env.KCTL_E2E_KEEP === '1') {
        console.log(`[e2e upgrade] kept: lab ${LAB_DIR}, controller pid ${controller?.pid}, work ${WORK}`);
        return;
      }
      await stopController(controller);
      await labDown({ dir: LAB_DIR });
      await rm(WORK, { recursive: true, force: true });
      console.log(`[e2e upgrade] wall time ${((Date.now() - started) / 1000).toFixed(1)}s`, lab?.timings);
    });

    const writeSpec = (kubernetesVersion: string, packages?: string) =>
      writeFile(
        lab.clusterFile,
        clusterYaml(lab.hosts, { kubernetesVersion, ...(packages !== undefined ? { packages } : {}) }),
      );

    const plan = async () => {
      const r = await kctl(['plan', '-f', lab.clusterFile], env());
      expect(r.exitCode, `kctl plan: ${r.stderr}\n${r.stdout}`).toBe(0);
      return r.stdout;
    };

    const apply = async () => {
      const t = Date.now();
      const r = await kctl(['apply', '-f', lab.clusterFile], env());
      say(`kctl apply: exit ${r.exitCode} in ${((Date.now() - t) / 1000).toFixed(1)}s`);
      expect(r.exitCode, `kctl apply: ${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/apply succeeded/);
      return t;
    };

    /** what the stand-in kubectl on the first control plane says each Node's kubelet runs */
    const nodeVersions = async (): Promise<Record<string, string>> => {
      const r = await inHost('lab-1', [
        'kubectl', '--kubeconfig', '/etc/kubernetes/admin.conf', 'get', 'nodes', '-o', 'json',
      ]); // prettier-ignore
      expect(r.exitCode, r.stderr).toBe(0);
      const items = (
        JSON.parse(r.stdout) as {
          items: Array<{ metadata: { name: string }; status: { nodeInfo: { kubeletVersion: string } } }>;
        }
      ).items;
      return Object.fromEntries(items.map((n) => [n.metadata.name, n.status.nodeInfo.kubeletVersion]));
    };

    const everyNodeAt = (v: string) => Object.fromEntries(lab.hosts.map((h) => [h.name, v]));

    /** on every host: kubeadm, kubelet and kubectl installed and held ("hi") at the version's package */
    const expectPackagesHeldAt = async (v: string) => {
      for (const h of lab.hosts) {
        const r = await inHost(h.name, [
          'dpkg-query', '-W', '-f=${Package} ${Version} ${db:Status-Abbrev}\\n', ...KUBE_PACKAGES,
        ]); // prettier-ignore
        expect(r.exitCode, `${h.name}: ${r.stderr}`).toBe(0);
        for (const p of KUBE_PACKAGES)
          expect(r.stdout, `on ${h.name}`).toMatch(new RegExp(`^${p} ${escape(debVersion(v))} hi\\s*$`, 'm'));
      }
    };

    /** the upgrade plan: the three upgrade phases, each host once, each from `from` to `to` */
    const expectUpgradePlan = async (from: string, to: string) => {
      const text = await plan();
      for (const h of lab.hosts) {
        expect(text, `a line of the plan names ${h.name} and ${from} -> ${to}`).toMatch(
          new RegExp(`^\\s+${h.name}: .*${escape(from)}\\b.*${escape(to)}\\b`, 'm'),
        );
      }
      const json = await kctl(['plan', '-f', lab.clusterFile, '-o', 'json'], env());
      expect(json.exitCode, json.stderr).toBe(0);
      const view = PlanView.parse(JSON.parse(json.stdout));
      expect(view.empty).toBe(false);
      const pendingHosts = (id: string) =>
        (view.phases.find((p) => p.id === id)?.tasks ?? [])
          .filter((t) => t.pending)
          .map((t) => t.host)
          .sort();
      expect(pendingHosts('upgrade-first')).toEqual(['lab-1']);
      expect(pendingHosts('upgrade-control-planes')).toEqual(['lab-2', 'lab-3']);
      expect(pendingHosts('upgrade-workers')).toEqual(['lab-4', 'lab-5']);
      // an upgrade, not a rebuild: no init, join or CNI task is pending
      const others = view.phases
        .filter((p) => !['preflight', 'prepare', 'verify'].includes(p.id) && !p.id.startsWith('upgrade-'))
        .filter((p) => p.tasks.some((t) => t.pending))
        .map((p) => p.id);
      expect(others).toEqual([]);
      return text;
    };

    /** each kubelet unit ran its start (the stand-in's `kubelet --standin-start`) during this apply */
    const expectKubeletsRestartedSince = async (since: number, v: string) => {
      const starts = (await standinCalls(lab.clusterDir)).filter(
        (c) => c.tool === 'kubelet' && c.argv[0] === '--standin-start' && Date.parse(c.startedAt) >= since,
      );
      expect(
        starts.filter((c) => c.exitCode !== 0),
        'every kubelet start succeeded',
      ).toEqual([]);
      expect([...new Set(starts.map((c) => c.node))].sort()).toEqual(lab.hosts.map((h) => h.name));
      const state = JSON.parse(await readFile(join(lab.clusterDir, 'state.json'), 'utf8')) as {
        runningKubelets: Record<string, { version: string; startedAt: number }>;
      };
      for (const h of lab.hosts) {
        expect(state.runningKubelets[h.name]?.version, h.name).toBe(v);
        const active = await inHost(h.name, ['systemctl', 'is-active', 'kubelet']);
        expect(active.stdout.trim(), `kubelet unit on ${h.name}`).toBe('active');
      }
    };

    const expectNoChanges = async () => {
      const r = await kctl(['plan', '-f', lab.clusterFile], env());
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toContain('cluster lab: no changes.');
    };

    it(`applies ${FIRST} from the bundle that also holds ${PATCH} and ${MINOR}`, async () => {
      const debs = lab.standinDebs.map((d) => `${d.name}=${d.kubernetesVersion}`);
      for (const v of [FIRST, PATCH, MINOR])
        for (const p of KUBE_PACKAGES) expect(debs).toContain(`${p}=${v}`);
      await plan();
      await apply();
      await expectPackagesHeldAt(FIRST);
      expect(await nodeVersions()).toEqual(everyNodeAt(FIRST));
      // the bundle's repository offers every version to apt on the hosts
      const madison = await inHost('lab-4', ['apt-cache', 'madison', 'kubeadm']);
      for (const v of [FIRST, PATCH, MINOR]) expect(madison.stdout).toContain(debVersion(v));
      await expectNoChanges();
    });

    it(`${FIRST} -> ${PATCH}: plan shows the upgrade per host, one apply upgrades all five, kubelets restarted, next plan empty`, async () => {
      await writeSpec(PATCH);
      const text = await expectUpgradePlan(FIRST, PATCH);
      say(`upgrade plan:\n${text}`);
      const since = await apply();
      await expectPackagesHeldAt(PATCH);
      await expectKubeletsRestartedSince(since, PATCH);
      expect(await nodeVersions()).toEqual(everyNodeAt(PATCH));
      const state = JSON.parse(await readFile(join(lab.clusterDir, 'state.json'), 'utf8')) as {
        cluster: { kubernetesVersion: string };
      };
      expect(state.cluster.kubernetesVersion).toBe(PATCH);
      await expectNoChanges();
    });

    it(`a downgrade edit (back to ${FIRST}) is refused by kctl plan, naming kubernetesVersion`, async () => {
      await writeSpec(FIRST);
      try {
        const r = await kctl(['plan', '-f', lab.clusterFile], env());
        expect(r.exitCode, r.stdout).not.toBe(0);
        expect(r.stderr).toContain('kubernetesVersion');
      } finally {
        await writeSpec(PATCH);
      }
      await expectNoChanges();
    });

    it(`${PATCH} -> ${MINOR} from the pkgs.k8s.io-like mirror: the package source moves to the v1.32 repository`, async () => {
      const m = mirror;
      if (m === undefined) throw new Error('no mirror');
      // the hosts trust the mirror's test CA (added through /usr/local/share/ca-certificates)
      const bundle = await inHost('lab-1', [
        'grep',
        '-c',
        'BEGIN CERTIFICATE',
        '/etc/ssl/certs/ca-certificates.crt',
      ]);
      expect(Number(bundle.stdout.trim())).toBeGreaterThan(0);
      const trusted = await inHost('lab-1', [
        'curl', '-fsS', '-o', '/dev/null', '-w', '%{http_code}', `${m.url}/core:/stable:/v1.32/deb/Release.key`,
      ]); // prettier-ignore
      expect(trusted.stdout, trusted.stderr).toBe('200');

      // a version the mirror does not carry is refused at plan time, read from a lab host's view
      const source = `{source: mirror, url: "${m.url}", keyFingerprint: "${m.keyFingerprint}"}`;
      await writeSpec('v1.32.7', source);
      const missing = await kctl(['plan', '-f', lab.clusterFile], env());
      expect(missing.exitCode, missing.stdout).toBe(1);
      expect(missing.stderr).toContain(
        `kubernetesVersion: the package repository ${m.url}/core:/stable:/v1.32/deb/ does not offer kubeadm 1.32.7-1.1 (it has 1.32.0-1.1)`,
      );
      expect(m.requests).toContain('/core:/stable:/v1.32/deb/Packages.gz');

      await writeSpec(MINOR, source);
      const text = await expectUpgradePlan(PATCH, MINOR);
      say(`upgrade plan:\n${text}`);
      const since = await apply();
      await expectPackagesHeldAt(MINOR);
      await expectKubeletsRestartedSince(since, MINOR);
      expect(await nodeVersions()).toEqual(everyNodeAt(MINOR));
      for (const h of lab.hosts) {
        const list = await inHost(h.name, ['cat', '/etc/apt/sources.list.d/kubernetes.list']);
        expect(list.stdout.trim(), h.name).toBe(
          `deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] ${m.url}/core:/stable:/v1.32/deb/ /`,
        );
        const policy = await inHost(h.name, ['apt-cache', 'policy', 'kubeadm']);
        expect(policy.stdout, h.name).toContain(`${m.url}/core:/stable:/v1.32/deb`);
      }
      expect(m.requests).toContain('/core:/stable:/v1.32/deb/Release.key');
      expect(m.requests).toContain('/core:/stable:/v1.32/deb/InRelease');
      expect(
        m.requests.filter((p) => p.includes('/v1.32/deb/pool/kubeadm_1.32.0-1.1')).length,
        'each host downloaded kubeadm 1.32.0 from the mirror',
      ).toBeGreaterThanOrEqual(lab.hosts.length);
      await expectNoChanges();
    });

    it('a containerd setting changed in cluster.yaml: the plan shows the restart, apply restarts containerd, the setting is live', async () => {
      const pauseRepo = 'registry.lab.example/k8s';
      const entered = async (host: string): Promise<string> =>
        (
          await inHost(host, [
            'systemctl',
            'show',
            '-p',
            'ActiveEnterTimestampMonotonic',
            '--value',
            'containerd',
          ])
        ).stdout.trim();
      const before = new Map<string, string>();
      for (const h of lab.hosts) before.set(h.name, await entered(h.name));
      await writeFile(
        lab.clusterFile,
        `${await readFile(lab.clusterFile, 'utf8')}imageRepository: ${pauseRepo}\n`,
      );
      const text = await plan();
      say(`containerd plan:\n${text}`);
      expect(
        text.split('restart containerd.service (/etc/containerd/config.toml changed)').length - 1,
        'one containerd restart per host in the plan',
      ).toBe(lab.hosts.length);
      await apply();
      for (const h of lab.hosts) {
        // containerd's own view of its configuration: the sandbox image from the new repository
        const dump = await inHost(h.name, ['containerd', 'config', 'dump']);
        expect(dump.stdout, h.name).toContain(`sandbox_image = "${pauseRepo}/pause:`);
        expect((await inHost(h.name, ['systemctl', 'is-active', 'containerd'])).stdout.trim(), h.name).toBe(
          'active',
        );
        expect(await entered(h.name), `${h.name}: containerd restarted`).not.toBe(before.get(h.name));
      }
      await expectNoChanges();
    });

    it('lab down leaves nothing behind', async () => {
      await mirror?.close();
      mirror = undefined;
      await stopController(controller);
      const down = await kctl(['lab', 'down', '--dir', LAB_DIR]);
      expect(down.exitCode, down.stderr).toBe(0);
      expect(await labLeftovers({ dir: LAB_DIR })).toEqual([]);
    });
  },
);
