import type { PreflightSpec } from '../../proto/checks.js';
import type { Host } from '../host/host.js';
import type { Check, CheckOutcome } from './check.js';
import { fail, pass } from './check.js';
import { DEFAULT_API_SERVER_PORT } from './ports.js';

/**
 * The two checks EL hosts need (the kubeadm guide's "set SELinux to permissive" and kubeadm's own
 * Firewalld warning). Both are warnings: a site may run SELinux enforcing with the container-selinux
 * policy, or open the ports through firewalld services, and kctl cannot see that for certain.
 */

export const SELINUX_ENFORCE = '/sys/fs/selinux/enforce';
export const SELINUX_CONFIG = '/etc/selinux/config';

/** SELINUX= from /etc/selinux/config, lower-cased; undefined without the file or the line. */
export function selinuxConfigMode(config: string | undefined): string | undefined {
  const m = /^\s*SELINUX\s*=\s*"?([A-Za-z]+)"?\s*$/m.exec(config ?? '');
  return m?.[1]?.toLowerCase();
}

const SELINUX_REMEDY =
  "setenforce 0 && sed -i 's/^SELINUX=enforcing$/SELINUX=permissive/' /etc/selinux/config " +
  '(the kubeadm install guide), or keep enforcing with the container-selinux policy installed and ignore SELinux';

/** `enforce`: the content of /sys/fs/selinux/enforce (undefined: SELinux is not enabled in the kernel). */
export function judgeSelinux(enforce: string | undefined, config: string | undefined): CheckOutcome {
  const expected = 'SELinux disabled or permissive, now and after a reboot';
  const boot = selinuxConfigMode(config);
  if (enforce === undefined) return pass('SELinux not enabled', expected);
  if (enforce.trim() === '1') return fail('SELinux enforcing', expected, SELINUX_REMEDY);
  if (boot === 'enforcing')
    return fail(
      `SELinux permissive now, but ${SELINUX_CONFIG} says SELINUX=enforcing (enforcing again after a reboot)`,
      expected,
      SELINUX_REMEDY,
    );
  return pass(`SELinux permissive${boot ? ` (SELINUX=${boot} at boot)` : ''}`, expected);
}

interface PortNeed {
  port: number;
  /** last port of a range, for the NodePort range */
  to?: number;
  purpose: string;
}

/** The TCP ports a node of this role serves to others (the kubeadm "Ports and Protocols" table). */
export function firewallPortsFor(spec: PreflightSpec): PortNeed[] {
  const kubelet = { port: 10250, purpose: 'kubelet API' };
  if (spec.role === 'worker') return [kubelet, { port: 30000, to: 32767, purpose: 'NodePort services' }];
  return [
    { port: spec.apiServerPort ?? DEFAULT_API_SERVER_PORT, purpose: 'kube-apiserver' },
    { port: 2379, to: 2380, purpose: 'etcd client and peer' },
    kubelet,
    { port: 10257, purpose: 'kube-controller-manager' },
    { port: 10259, purpose: 'kube-scheduler' },
  ];
}

/** `firewall-cmd --list-ports` output ("6443/tcp 2379-2380/tcp 8472/udp") as TCP ranges. */
export function openTcpRanges(listPorts: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const word of listPorts.split(/\s+/)) {
    const m = /^(\d+)(?:-(\d+))?\/tcp$/.exec(word);
    if (m) out.push([Number(m[1]), Number(m[2] ?? m[1])]);
  }
  return out;
}

const label = (p: PortNeed): string => (p.to === undefined ? `${p.port}` : `${p.port}-${p.to}`);

/** `listPorts`: undefined when firewalld is not active (nothing to open). */
export function judgeFirewalld(needs: readonly PortNeed[], listPorts: string | undefined): CheckOutcome {
  const expected = `firewalld inactive, or TCP ${needs.map(label).join(', ')} open`;
  if (listPorts === undefined) return pass('firewalld not active', expected);
  const open = openTcpRanges(listPorts);
  const missing = needs.filter((n) => !open.some(([a, b]) => a <= n.port && (n.to ?? n.port) <= b));
  if (missing.length === 0)
    return pass(`firewalld active, ${needs.map(label).join(', ')}/tcp open`, expected);
  return fail(
    `firewalld active; not in firewall-cmd --list-ports: ${missing.map((m) => `${label(m)}/tcp (${m.purpose})`).join(', ')}`,
    expected,
    `${missing.map((m) => `firewall-cmd --permanent --add-port=${label(m)}/tcp`).join(' && ')} && firewall-cmd --reload ` +
      '(ports opened through a firewalld service are not seen here: ignore Firewalld then)',
  );
}

async function firewalldListPorts(host: Host): Promise<string | undefined> {
  // /run/systemd/system exists only when systemd is PID 1; without it systemctl knows nothing
  if (!(await host.exists('/run/systemd/system')) || (await host.which('systemctl')) === undefined)
    return undefined;
  const active = await host
    .run('systemctl', ['is-active', 'firewalld.service'], { allowFailure: true, timeoutMs: 5000 })
    .catch(() => ({ stdout: '' }));
  if (active.stdout.trim() !== 'active') return undefined;
  if ((await host.which('firewall-cmd')) === undefined) return '';
  const r = await host
    .run('firewall-cmd', ['--list-ports'], { allowFailure: true, timeoutMs: 20_000 })
    .catch(() => ({ stdout: '' }));
  return r.stdout;
}

export const selinuxFirewalldChecks = (spec: PreflightSpec): Check[] => [
  {
    id: 'SELinux',
    title: 'SELinux permissive or off',
    severity: 'warning',
    appliesTo: {},
    run: async ({ host }) =>
      judgeSelinux(
        await host.readFile(SELINUX_ENFORCE).catch(() => undefined),
        await host.readFile(SELINUX_CONFIG).catch(() => undefined),
      ),
  },
  {
    id: 'Firewalld',
    title: "firewalld leaves the node's ports open",
    severity: 'warning',
    appliesTo: {},
    run: async ({ host }) => judgeFirewalld(firewallPortsFor(spec), await firewalldListPorts(host)),
  },
];
