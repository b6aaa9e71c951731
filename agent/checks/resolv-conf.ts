import type { Check, CheckOutcome } from './check.js';
import { fail, pass } from './check.js';

export function nameserversIn(resolvConf: string): string[] {
  const servers: string[] = [];
  for (const line of resolvConf.split('\n')) {
    const match = /^\s*nameserver\s+(\S+)/.exec(line);
    if (match?.[1]) servers.push(match[1]);
  }
  return servers;
}

export function judgeNameservers(resolvConf: string | undefined): CheckOutcome {
  const expected = 'at least one nameserver in /etc/resolv.conf';
  if (resolvConf === undefined) {
    return fail(
      '/etc/resolv.conf does not exist',
      expected,
      'configure DNS for the host (a nameserver line in /etc/resolv.conf)',
    );
  }
  const servers = nameserversIn(resolvConf);
  return servers.length > 0
    ? pass(`nameserver ${servers.join(', ')}`, expected)
    : fail(
        'no nameserver line in /etc/resolv.conf',
        expected,
        'add a nameserver to /etc/resolv.conf (or to the network configuration that writes it)',
      );
}

export const resolvConfChecks = (): Check[] => [
  {
    id: 'Nameserver',
    title: 'a DNS nameserver is configured',
    severity: 'error',
    appliesTo: {},
    run: async ({ host }) => judgeNameservers(await host.readFile('/etc/resolv.conf')),
  },
];
