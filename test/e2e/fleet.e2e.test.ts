import { chmod, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labExec } from '../../lab/exec.js';
import { labDown, labLeftovers } from '../../lab/teardown.js';
import type { ProcessRef } from '../../lab/state.js';
import { labSkipReason } from '../lab/lab-env.js';
import { BOOTSTRAP_TOKEN, findSecrets } from '../fixtures/secret-scan.js';
import { ApplyEventLine, PlanView } from '../../proto/plan-api.js';
import { HealthResponse } from '../../proto/health.js';
import { LAB_BRIDGE_ADDRESS } from '../../lab/network.js';
import { artifactPath, launchChromium } from '../web/chromium.js';
import {
  CONTROL_PLANE_VIP,
  KUBERNETES_VERSION,
  REPO,
  clusterYaml,
  kctl,
  killAndRestartController,
  onlineHosts,
  restartController,
  setHealthInterval,
  standinCalls,
  startFleetLab,
  stopController,
  type FleetLab,
} from './fleet-lab.js';

/**
 * Issue 5's end-to-end suite: 3 control planes + 2 workers as booted Debian hosts, enrolled
 * through their `kctl cloud-init` seeds, `kctl plan` -> `kctl apply` with `packages.source: bundle`
 * (real apt installs containerd, runc, nodejs and the kubeadm/kubelet/kubectl STAND-IN packages
 * from the controller's offline bundle), checked inside each host; a second plan is empty; lab
 * down leaves nothing. kubeadm, kubelet and kubectl are stand-ins (test/standins), not Kubernetes.
 */
const reason = await labSkipReason();
if (reason !== undefined) console.warn(`e2e skipped: ${reason}`);

const WORK = '/var/tmp/kctl-e2e';
const LAB_DIR = '/var/tmp/kctl-e2e-lab';
const PORT = 17443;
/** scheduled health while the health test runs (the default is 5 min) */
const HEALTH_INTERVAL_MS = 10_000;

describe.skipIf(reason !== undefined)(
  `a 5-host lab from kctl cloud-init to an applied cluster${reason ? ` (skipped: ${reason})` : ''}`,
  () => {
    let lab: FleetLab;
    let controller: ProcessRef | undefined;
    const started = Date.now();
    const env = () => ({ KCTL_CONFIG: lab.clientConfig });
    const inHost = (host: string, argv: string[]) => labExec(host, argv, { dir: LAB_DIR });

    beforeAll(async () => {
      await labDown({ dir: LAB_DIR });
      lab = await startFleetLab(
        {
          work: WORK,
          labDir: LAB_DIR,
          controlPlanes: 3,
          workers: 2,
          port: PORT,
          log: (m) => console.log(`[e2e ${((Date.now() - started) / 1000).toFixed(0)}s] ${m}`),
        },
        (ref) => (controller = ref),
      );
    });

    afterAll(async () => {
      // KCTL_E2E_KEEP=1 leaves a failed lab up for a look inside (sudo kctl lab down --dir ... later)
      if (process.env.KCTL_E2E_KEEP === '1') {
        console.log(`[e2e] kept: lab ${LAB_DIR}, controller pid ${controller?.pid}, work ${WORK}`);
        return;
      }
      await stopController(controller);
      await labDown({ dir: LAB_DIR });
      await rm(WORK, { recursive: true, force: true });
      console.log(`[e2e] wall time ${((Date.now() - started) / 1000).toFixed(1)}s`, lab?.timings);
    });

    it('every host enrolled through the agent its kctl cloud-init seed downloaded and checked', async () => {
      const online = await onlineHosts(lab.api);
      expect(online.map((h) => h.name).sort()).toEqual(lab.hosts.map((h) => h.name));
      for (const h of lab.hosts) expect(online.find((o) => o.name === h.name)?.labels.role).toBe(h.role);
      const sums = await readFile(join(lab.dataDir, 'artifacts/SHA256SUMS'), 'utf8');
      const agentSha = /^([0-9a-f]{64})\s+kctl-agent-linux-x64$/m.exec(sums)?.[1];
      expect(agentSha).toMatch(/^[0-9a-f]{64}$/);
      for (const h of lab.hosts) {
        const seed = await inHost(h.name, ['head', '-n1', '/var/lib/cloud/seed/nocloud/user-data']);
        expect(seed.stdout.trim()).toBe('#cloud-config');
        expect((await inHost(h.name, ['systemctl', 'is-enabled', 'kctl-agent'])).stdout.trim()).toBe(
          'enabled',
        );
        expect((await inHost(h.name, ['systemctl', 'is-active', 'kctl-agent'])).stdout.trim()).toBe('active');
        const sha = await inHost(h.name, ['sha256sum', '/usr/local/bin/kctl-agent']);
        expect(sha.stdout.split(/\s+/)[0]).toBe(agentSha);
        const cfg = await inHost(h.name, ['stat', '-c', '%a', '/etc/kctl/agent.yaml']);
        expect(cfg.stdout.trim()).toBe('600');
      }
    });

    it('kctl plan then kctl apply: packages from the bundle, containerd active, configs written, init before joins', async () => {
      const plan = await kctl(['plan', '-f', lab.clusterFile], env());
      expect(plan.exitCode, plan.stderr + plan.stdout).toBe(0);
      expect(plan.stdout).toContain('== Initialise the first control plane');
      const apply = await kctl(['apply', '-f', lab.clusterFile], env());
      expect(apply.exitCode, apply.stdout + apply.stderr).toBe(0);
      expect(apply.stdout).toMatch(/apply succeeded/);

      const debVersion = `${KUBERNETES_VERSION.slice(1)}-1.1`;
      for (const h of lab.hosts) {
        const ctx = `on ${h.name}`;
        expect((await inHost(h.name, ['systemctl', 'is-active', 'containerd'])).stdout.trim(), ctx).toBe(
          'active',
        );
        const toml = await inHost(h.name, ['cat', '/etc/containerd/config.toml']);
        expect(toml.exitCode, ctx).toBe(0);
        expect(toml.stdout, ctx).toMatch(/SystemdCgroup = true/);
        // real apt installed the stand-in packages from the synced bundle, pinned and held
        const pkgs = await inHost(h.name, [
          'dpkg-query',
          '-W',
          '-f=${Package} ${Version} ${db:Status-Abbrev}\\n',
          'kubeadm',
          'kubelet',
          'kubectl',
          'containerd',
          'nodejs',
        ]);
        // "hi": installed and held (apt-mark hold)
        for (const p of ['kubeadm', 'kubelet', 'kubectl'])
          expect(pkgs.stdout, ctx).toContain(`${p} ${debVersion} hi`);
        expect(pkgs.stdout, ctx).toMatch(/^containerd \S+ ii/m);
        expect(pkgs.stdout, ctx).toMatch(/^nodejs \S+ ii/m);
        const desc = await inHost(h.name, ['dpkg-query', '-W', '-f=${Description}', 'kubeadm']);
        expect(desc.stdout, ctx).toContain('STAND-IN');
        const policy = await inHost(h.name, ['apt-cache', 'policy', 'kubeadm']);
        expect(policy.stdout, ctx).toContain('file:/var/lib/kctl/bundle/apt');
        const held = (await inHost(h.name, ['apt-mark', 'showhold'])).stdout.split('\n');
        expect(held, ctx).toEqual(expect.arrayContaining(['kubeadm', 'kubelet', 'kubectl']));
        expect((await inHost(h.name, ['systemctl', 'is-enabled', 'kubelet'])).stdout.trim(), ctx).toBe(
          'enabled',
        );
        // what kubeadm wrote from kctl's config
        const kubelet = await inHost(h.name, ['cat', '/var/lib/kubelet/config.yaml']);
        expect(kubelet.stdout, ctx).toMatch(/cgroupDriver: systemd/);
        const conf = await inHost(h.name, ['cat', '/etc/kubernetes/kubelet.conf']);
        expect(conf.exitCode, ctx).toBe(0);
        if (h.role === 'control-plane') {
          const admin = await inHost(h.name, ['cat', '/etc/kubernetes/admin.conf']);
          expect(admin.stdout, ctx).toContain(`server: https://${CONTROL_PLANE_VIP}:6443`);
          const apiserver = await inHost(h.name, ['cat', '/etc/kubernetes/manifests/kube-apiserver.yaml']);
          expect(apiserver.stdout, ctx).toContain(`--advertise-address=${h.address}`);
          const vip = await inHost(h.name, ['cat', '/etc/kubernetes/manifests/kube-vip.yaml']);
          expect(vip.stdout, ctx).toContain(CONTROL_PLANE_VIP);
        }
      }

      // the stand-ins' shared call log: init on the first control plane, then the control-plane
      // joins one at a time, then the workers
      const calls = await standinCalls(lab.clusterDir);
      expect(
        calls.filter((c) => c.exitCode !== 0),
        'every stand-in call succeeded',
      ).toEqual([]);
      const kubeadm = calls.filter(
        (c) => c.tool === 'kubeadm' && (c.argv[0] === 'init' || c.argv[0] === 'join'),
      );
      expect(kubeadm.map((c) => `${c.argv[0]}:${c.node}`)).toEqual([
        'init:lab-1',
        'join:lab-2',
        'join:lab-3',
        ...kubeadm.slice(3).map((c) => `join:${c.node}`),
      ]);
      expect(
        kubeadm
          .slice(3)
          .map((c) => c.node)
          .sort(),
      ).toEqual(['lab-4', 'lab-5']);
      const [init, cp2, cp3, ...workers] = kubeadm;
      const t = (iso: string | undefined) => Date.parse(iso ?? '');
      expect(t(cp2?.startedAt)).toBeGreaterThanOrEqual(t(init?.time));
      expect(t(cp3?.startedAt), 'control planes join one at a time').toBeGreaterThanOrEqual(t(cp2?.time));
      for (const w of workers) expect(t(w.startedAt)).toBeGreaterThanOrEqual(t(cp3?.time));

      // the simulated cluster, asked from the first control plane as an operator would
      const nodes = await inHost('lab-1', [
        'kubectl',
        '--kubeconfig',
        '/etc/kubernetes/admin.conf',
        'get',
        'nodes',
        '-o',
        'json',
      ]);
      expect(nodes.exitCode, nodes.stderr).toBe(0);
      const items = (
        JSON.parse(nodes.stdout) as {
          items: Array<{
            metadata: { name: string };
            status: { conditions: Array<{ type: string; status: string }> };
          }>;
        }
      ).items;
      expect(items.map((n) => n.metadata.name).sort()).toEqual(lab.hosts.map((h) => h.name));
      for (const n of items)
        expect(n.status.conditions.find((c) => c.type === 'Ready')?.status, n.metadata.name).toBe('True');
    });

    it('a second kctl plan is empty', async () => {
      const again = await kctl(['plan', '-f', lab.clusterFile], env());
      expect(again.exitCode, again.stderr).toBe(0);
      expect(again.stdout).toContain('cluster lab: no changes.');
    });

    it('kctl kubeconfig: read by the real kubectl, which gets /readyz from a control plane through it', async () => {
      const out = join(WORK, 'admin.kubeconfig');
      const r = await kctl(['kubeconfig', '-f', lab.clusterFile, '--out', out], env());
      expect(r.exitCode, r.stderr).toBe(0);
      expect((await stat(out)).mode & 0o777).toBe(0o600);
      // /usr/bin/kubectl is the real 1.32 client this image ships, not a stand-in
      const view = await execa('/usr/bin/kubectl', ['--kubeconfig', out, 'config', 'view', '-o', 'json'], {
        reject: false,
      });
      expect(view.exitCode, view.stderr).toBe(0);
      const cfg = JSON.parse(view.stdout) as { clusters: Array<{ cluster: { server: string } }> };
      expect(cfg.clusters[0]?.cluster.server).toBe(`https://${CONTROL_PLANE_VIP}:6443`);
      // the VIP is kube-vip's (a manifest here, nothing runs it): ask lab-1's stand-in API server
      // directly, verified by the kubeconfig's CA (lab-1's address is in its serving certificate)
      const cp1 = lab.hosts[0]!;
      const readyz = await execa(
        '/usr/bin/kubectl',
        ['--kubeconfig', out, '--server', `https://${cp1.address}:6443`, 'get', '--raw', '/readyz'],
        { reject: false, timeout: 30_000 },
      );
      expect(readyz.exitCode, readyz.stderr).toBe(0);
      expect(readyz.stdout.trim()).toBe('ok');
      // the client key is in the file only: the secret scan below reads the controller's log
      const key = /client-key-data: (\S+)/.exec(await readFile(out, 'utf8'))?.[1];
      expect(key).toBeDefined();
      expect(await readFile(lab.controllerLog, 'utf8')).not.toContain(key!);
    });

    it('health of the converged lab, then four problems on one host named by kctl health and the page, and repaired by apply', async () => {
      const health = async (): Promise<{ exitCode: number; report: HealthResponse }> => {
        const r = await kctl(['health', '-f', lab.clusterFile, '-o', 'json'], env());
        return { exitCode: r.exitCode ?? -1, report: HealthResponse.parse(JSON.parse(r.stdout)) };
      };
      const bad = (report: HealthResponse, host: string) =>
        (report.hosts.find((h) => h.host === host)?.results ?? []).filter((x) => x.severity !== 'ok');
      // scheduled health every 10 s from here on (off until now: it would ask control planes for
      // their nodes while the first apply still runs); the setting is read at the controller's start
      await setHealthInterval(lab.dataDir, HEALTH_INTERVAL_MS);
      controller = await restartController(lab, controller);
      const first = await health();
      expect(
        first.report.hosts.flatMap((h) =>
          bad(first.report, h.host).map((x) => `${h.host} ${x.id}: ${x.observed}`),
        ),
      ).toEqual([]);
      expect(first.exitCode).toBe(0);

      // the page: every host healthy, with its kube version and the apply's result
      const token = (await kctl(['web', 'token', 'create', '--read-only'], env())).stdout.trim();
      const browser = await launchChromium(await readFile(join(lab.dataDir, 'server.crt'), 'utf8'));
      const target = lab.hosts.at(-1)!.name;
      const swapFile = join(WORK, 'swapfile');
      try {
        const page = await browser.context.newPage();
        const origin = `https://${LAB_BRIDGE_ADDRESS}:${PORT + 1}`;
        await page.goto(`${origin}/login`);
        await page.fill('#token', token);
        await page.click('form:not(.cert) button[type=submit]');
        await page.waitForURL(`${origin}/`);
        const cell = (host: string, col: string) =>
          page.locator(`.body .row[data-host="${host}"] [data-col="${col}"]`);
        for (const h of lab.hosts) {
          await expect
            .poll(() => cell(h.name, 'kube').textContent(), { timeout: 20_000 })
            .toBe(KUBERNETES_VERSION);
          expect(await cell(h.name, 'apply').textContent(), h.name).toMatch(/^done/);
          expect(await cell(h.name, 'health').getAttribute('data-level'), h.name).toBe('ok');
        }
        await page.screenshot({ path: await artifactPath('lab-fleet-healthy.png') });

        // four problems on the last worker, as a bad day makes them: swap on (swap is the kernel's,
        // so every host sees it: made from outside, as nspawn forbids swapon inside), a sysctl kctl
        // set changed, containerd stopped, a file kctl wrote edited by hand
        await execa('fallocate', ['-l', '64M', swapFile]);
        await chmod(swapFile, 0o600);
        await execa('mkswap', [swapFile]);
        await execa('swapon', [swapFile]);
        for (const argv of [
          ['sh', '-c', 'echo 0 > /proc/sys/net/ipv4/ip_forward'],
          ['systemctl', 'stop', 'containerd'],
          ['sh', '-c', 'echo "# edited by hand" >> /etc/containerd/config.toml'],
        ]) {
          const r = await inHost(target, argv);
          expect(r.exitCode, `${argv.join(' ')}: ${r.stderr}`).toBe(0);
        }
        const broke = Date.now();
        const problems = (ids: string[], observed: string[]) => ({
          swap: ids.some((id) => id === 'Swap'),
          sysctl: observed.some((o) => o.includes('sysctl net.ipv4.ip_forward is 0, want 1')),
          containerd: ids.some((id) => id === 'Service-containerd.service'),
          file: observed.some((o) => o.includes('file /etc/containerd/config.toml changed')),
        });
        const all = { swap: true, sysctl: true, containerd: true, file: true };

        // the page names them from the scheduled health run (nobody ran kctl health), without a reload
        await page.waitForFunction(
          (host) => {
            const text = document.querySelector(`.body .row[data-host="${host}"] [data-col="health"]`);
            return text?.getAttribute('data-level') === 'critical' && /critical/.test(text.textContent ?? '');
          },
          target,
          { timeout: HEALTH_INTERVAL_MS * 1.2 + 20_000, polling: 200 },
        );
        // swap alone makes the row critical: a scheduled run that fell between the four breakages
        // shows only some of them (CI saw Swap and drifts without containerd), so the detail is
        // read again until a run after all four names them
        const dialog = page.locator('dialog#detail');
        const readDetail = async (): Promise<string> => {
          await page.click(`.body .row[data-host="${target}"] button.detail-button`);
          await expect.poll(() => dialog.isVisible()).toBe(true);
          const text = (await dialog.locator('[data-fact="health"]').textContent()) ?? '';
          return text;
        };
        let shown = await readDetail();
        const deadline = Date.now() + HEALTH_INTERVAL_MS * 1.2 + 20_000;
        while (!/Service-containerd\.service/.test(shown) && Date.now() < deadline) {
          await dialog.locator('button.close').click();
          await new Promise((r) => setTimeout(r, 1000));
          shown = await readDetail();
        }
        expect(shown.split(/[:,]\s*/), shown).toEqual(
          expect.arrayContaining(['Swap', 'Service-containerd.service']),
        );
        expect(shown, 'the drift findings: sysctl and the containerd config file').toMatch(/Drift-sysctl/);
        expect(shown).toMatch(/Drift-file:\/etc\/containerd\/config\.toml/);
        console.log(
          `[e2e] the page named the four problems ${((Date.now() - broke) / 1000).toFixed(1)} s after they were made (scheduled health every ${HEALTH_INTERVAL_MS / 1000} s)`,
        );
        await page.screenshot({ path: await artifactPath('lab-fleet-four-problems.png') });
        await dialog.locator('button.close').click();

        // kctl health names all four on that host, critical (swap, containerd) so exit 2
        const after = await health();
        const found = bad(after.report, target);
        expect(
          problems(
            found.map((x) => x.id),
            found.map((x) => x.observed),
          ),
          JSON.stringify(found),
        ).toEqual(all);
        expect(after.exitCode).toBe(2);
        for (const h of lab.hosts.slice(0, -1))
          expect(
            bad(after.report, h.name).map((x) => x.id),
            `${h.name} has only the machine-wide swap (and the swap-off step's drift)`,
          ).toEqual(expect.arrayContaining(['Swap']));
        for (const h of lab.hosts.slice(0, -1))
          for (const x of bad(after.report, h.name)) expect(x.id, h.name).toMatch(/^(Swap|Drift-swap-off)$/);

        // kctl plan shows the repairs on that host
        const plan = await kctl(['plan', '-f', lab.clusterFile, '-o', 'json'], env());
        expect(plan.exitCode, plan.stderr).toBe(0);
        const view = PlanView.parse(JSON.parse(plan.stdout));
        const changes = view.phases.flatMap((p) =>
          p.tasks.filter((t) => t.pending && t.host === target).flatMap((t) => t.changes),
        );
        const kinds = changes.map((c) => JSON.stringify(c).slice(0, 160));
        expect(
          changes.some((c) => c.kind === 'sysctl' && c.key === 'net.ipv4.ip_forward'),
          kinds.join('\n'),
        ).toBe(true);
        expect(
          changes.some((c) => c.kind === 'file' && c.path === '/etc/containerd/config.toml'),
          kinds.join('\n'),
        ).toBe(true);
        expect(
          changes.some((c) => c.kind === 'service' && c.unit.startsWith('containerd')),
          kinds.join('\n'),
        ).toBe(true);
        expect(
          changes.some((c) => c.kind === 'swapoff'),
          kinds.join('\n'),
        ).toBe(true);

        // swap goes off where it was turned on (nspawn forbids swapoff inside); apply repairs the rest
        await execa('swapoff', [swapFile]);
        const apply = await kctl(['apply', '-f', lab.clusterFile], env());
        expect(apply.exitCode, apply.stdout + apply.stderr).toBe(0);
        const healed = await health();
        expect(
          healed.report.hosts.flatMap((h) => bad(healed.report, h.host).map((x) => `${h.host} ${x.id}`)),
        ).toEqual([]);
        expect(healed.exitCode).toBe(0);
        const again = await kctl(['plan', '-f', lab.clusterFile], env());
        expect(again.stdout).toContain('cluster lab: no changes.');
      } finally {
        await execa('swapoff', [swapFile], { reject: false });
        await rm(swapFile, { force: true });
        await browser.close();
        // the later tests kill and restart the controller: they need no scheduled health
        await setHealthInterval(lab.dataDir, 0);
        controller = await restartController(lab, controller);
      }
    });

    it('no secret in the controller log or in any host journal or cloud-init log (S19)', async () => {
      // the secrets really used: each host's one-use enrollment token (from its seed) and the join
      // tokens the stand-in cluster holds; plus anything shaped like a token, key or private key
      const known: string[] = [];
      const state = JSON.parse(await readFile(join(lab.clusterDir, 'state.json'), 'utf8')) as {
        tokens: Array<{ token: string }>;
      };
      known.push(...state.tokens.map((t) => t.token));
      const sources: Array<[string, string]> = [
        ['controller.log', await readFile(lab.controllerLog, 'utf8')],
      ];
      for (const h of lab.hosts) {
        const seed = await inHost(h.name, ['cat', '/var/lib/cloud/seed/nocloud/user-data']);
        known.push(...(seed.stdout.match(BOOTSTRAP_TOKEN) ?? []));
        const journal = await inHost(h.name, ['journalctl', '--no-pager', '-o', 'cat']);
        expect(journal.exitCode, journal.stderr).toBe(0);
        sources.push([`${h.name} journal`, journal.stdout]);
        for (const log of ['/var/log/cloud-init.log', '/var/log/cloud-init-output.log']) {
          const r = await inHost(h.name, ['cat', log]);
          if (r.exitCode === 0) sources.push([`${h.name} ${log}`, r.stdout]);
        }
      }
      expect(known.length, 'one enrollment token per host at least').toBeGreaterThanOrEqual(lab.hosts.length);
      // the agents did log: an empty scan would pass vacuously
      expect(sources.find(([n]) => n === 'lab-1 journal')?.[1]).toMatch(/kctl/);
      const findings = sources.flatMap(([name, text]) => findSecrets(name, text, known));
      expect(findings).toEqual([]);
    });

    /** Runs `kctl args -o json`, kills the controller with -9 once `killWhen` holds, restarts it; the events seen. */
    const killDuring = async (
      args: string[],
      killWhen: (events: ApplyEventLine[]) => boolean,
    ): Promise<ApplyEventLine[]> => {
      const sub = execa(
        join(REPO, 'node_modules/.bin/tsx'),
        [join(REPO, 'controller/cli/kctl.ts'), ...args, '-o', 'json'],
        { cwd: REPO, env: env(), reject: false },
      );
      let out = '';
      sub.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
      const deadline = Date.now() + 300_000;
      while (!killWhen(events(out)) && sub.exitCode === null && Date.now() < deadline) await sleep(20);
      if (controller === undefined) throw new Error('no controller to kill');
      controller = await killAndRestartController(lab, controller);
      await sub;
      return events(out);
    };
    const events = (stdout: string): ApplyEventLine[] =>
      stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => ApplyEventLine.parse(JSON.parse(l)));
    const stateNodes = async (): Promise<string[]> =>
      (
        JSON.parse(await readFile(join(lab.clusterDir, 'state.json'), 'utf8')) as {
          nodes: Array<{ name: string }>;
        }
      ).nodes.map((n) => n.name);

    it('kctl node remove of a worker, controller killed -9 mid-way: the rerun finishes it, one drain and one reset, next plan empty', async () => {
      const gone = lab.hosts.at(-1);
      if (gone?.role !== 'worker') throw new Error('the last lab host should be a worker');
      // the operator takes the host out of cluster.yaml, then removes the node
      await writeFile(lab.clusterFile, clusterYaml(lab.hosts.filter((h) => h !== gone)));
      const mark = (await standinCalls(lab.clusterDir)).length;
      const first = await killDuring(['node', 'remove', gone.name, '-f', lab.clusterFile, '--yes'], (e) =>
        e.some((x) => x.type === 'task-start'),
      );
      expect(
        first.map((e) => e.type),
        'killed before the removal finished',
      ).not.toContain('apply-done');
      const again = await kctl(
        ['node', 'remove', gone.name, '-f', lab.clusterFile, '--yes', '-o', 'json'],
        env(),
      );
      expect(again.exitCode, again.stderr + again.stdout).toBe(0);
      const last = events(again.stdout).at(-1);
      expect(
        last?.type === 'no-changes' || (last?.type === 'apply-done' && last.status === 'succeeded'),
      ).toBe(true);

      expect(await stateNodes()).not.toContain(gone.name);
      const calls = (await standinCalls(lab.clusterDir)).slice(mark);
      const resets = calls.filter((c) => c.tool === 'kubeadm' && c.argv[0] === 'reset' && c.exitCode === 0);
      expect(
        resets.map((c) => c.node),
        'one kubeadm reset, on the removed host',
      ).toEqual([gone.name]);
      const drains = calls.filter(
        (c) => c.tool === 'kubectl' && c.argv.includes('drain') && c.exitCode === 0,
      );
      expect(drains.length, 'one drain').toBe(1);
      // inside the booted host: kubeadm's files are gone
      const conf = await inHost(gone.name, ['test', '-e', '/etc/kubernetes/kubelet.conf']);
      expect(conf.exitCode, 'kubelet.conf removed by kubeadm reset').not.toBe(0);
      const plan = await kctl(['plan', '-f', lab.clusterFile], env());
      expect(plan.exitCode, plan.stderr).toBe(0);
      expect(plan.stdout).toContain('cluster lab: no changes.');
    });

    it('kctl reset of the whole cluster, controller killed -9 after the first host: the rerun resets the rest, each host once', async () => {
      const members = lab.hosts.slice(0, -1).map((h) => h.name);
      const mark = (await standinCalls(lab.clusterDir)).length;
      const first = await killDuring(['reset', '-f', lab.clusterFile, '--yes'], (e) =>
        e.some((x) => x.type === 'task-done'),
      );
      expect(first.map((e) => e.type)).not.toContain('apply-done');
      const again = await kctl(['reset', '-f', lab.clusterFile, '--yes', '-o', 'json'], env());
      expect(again.exitCode, again.stderr + again.stdout).toBe(0);
      const resets = (await standinCalls(lab.clusterDir))
        .slice(mark)
        .filter((c) => c.tool === 'kubeadm' && c.argv[0] === 'reset' && c.exitCode === 0)
        .map((c) => c.node ?? '');
      expect(resets.sort(), 'every member reset exactly once').toEqual([...members].sort());
      expect(await stateNodes()).toEqual([]);
      for (const name of members) {
        const conf = await inHost(name, ['test', '-e', '/etc/kubernetes/admin.conf']);
        expect(conf.exitCode, `${name}: /etc/kubernetes emptied`).not.toBe(0);
      }
    });

    it('lab down leaves nothing behind', async () => {
      await stopController(controller);
      const down = await kctl(['lab', 'down', '--dir', LAB_DIR]);
      expect(down.exitCode, down.stderr).toBe(0);
      expect(await labLeftovers({ dir: LAB_DIR })).toEqual([]);
    });
  },
);
