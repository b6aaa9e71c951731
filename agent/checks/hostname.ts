import type { Check, CheckOutcome } from './check.js';
import { fail, pass } from './check.js';

/** RFC 1123 DNS subdomain, as Kubernetes requires of node names. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function isValidNodeName(name: string): boolean {
  return name.length > 0 && name.length <= 253 && DNS_SUBDOMAIN.test(name);
}

/** Names mapped to an address in /etc/hosts. */
export function namesInHostsFile(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const [, ...aliases] = (line.split('#')[0] ?? '').trim().split(/\s+/);
    for (const alias of aliases) if (alias) names.add(alias.toLowerCase());
  }
  return names;
}

export function judgeHostname(name: string, resolvable: boolean): CheckOutcome {
  const expected = `node name "${name}" is an RFC 1123 subdomain and resolves`;
  if (!isValidNodeName(name)) {
    return fail(
      `node name "${name}" is not a valid RFC 1123 subdomain`,
      expected,
      'use lowercase letters, digits, "-" and "." only (set nodeName in cluster.yaml or rename the host)',
    );
  }
  if (!resolvable) {
    return fail(
      `hostname "${name}" could not be reached (not in /etc/hosts, DNS lookup failed)`,
      expected,
      `add "${name}" to /etc/hosts or to DNS`,
    );
  }
  return pass(`node name "${name}" resolves`, expected);
}

export const hostnameChecks = (): Check[] => [
  {
    id: 'Hostname',
    title: 'node name valid and resolvable',
    severity: 'warning',
    appliesTo: {},
    run: async ({ host, spec, resolveName }) => {
      const name =
        spec.nodeName ?? ((await host.readFile('/proc/sys/kernel/hostname')) ?? '').trim().toLowerCase();
      if (!isValidNodeName(name)) return judgeHostname(name, false);
      const inHosts = namesInHostsFile((await host.readFile('/etc/hosts')) ?? '').has(name);
      return judgeHostname(name, inHosts || (await resolveName(name)));
    },
  },
];
