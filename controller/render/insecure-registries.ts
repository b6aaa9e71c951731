import { quoteInput } from '../../proto/validators.js';
import type { RegistryInput } from './types.js';

export interface RegistryProblem {
  /** the cluster.yaml field at fault */
  path: string;
  message: string;
}

const INSECURE = 'runtime.containerd.insecureRegistries';

/**
 * What makes the registry setup ambiguous or silently insecure: a plain-http mirror not listed in
 * insecureRegistries, a host both verified with a CA and not verified, a host reached both over
 * http and https, `_default` listed. Empty when containerd's hosts.toml can say exactly one thing.
 */
export function registrySecurityProblems(input: RegistryInput): RegistryProblem[] {
  const insecure = new Set(input.insecureRegistries ?? []);
  const problems: RegistryProblem[] = [];
  const schemes = new Map<string, Set<string>>();
  for (const [registry, mirrors] of Object.entries(input.registryMirrors)) {
    for (const [i, mirror] of mirrors.entries()) {
      const url = new URL(mirror);
      const seen = schemes.get(url.host) ?? new Set<string>();
      seen.add(url.protocol);
      schemes.set(url.host, seen);
      if (url.protocol === 'http:' && !insecure.has(url.host))
        problems.push({
          path: `runtime.containerd.registryMirrors.${registry}[${i}]`,
          message: `${quoteInput(mirror)} is plain http: list "${url.host}" in ${INSECURE} to allow it, or use https`,
        });
    }
  }
  for (const host of insecure) {
    if (host === '_default') {
      problems.push({ path: INSECURE, message: 'lists "_default", which is no registry: name each host' });
      continue;
    }
    if (input.registryCAs[host] !== undefined)
      problems.push({
        path: INSECURE,
        message: `lists "${host}", which has a CA in runtime.containerd.registryCAs: verify it with the CA or not at all, not both`,
      });
    const seen = schemes.get(host);
    if (seen?.has('http:') && seen.has('https:'))
      problems.push({
        path: INSECURE,
        message: `lists "${host}", which runtime.containerd.registryMirrors names both as http:// and https://: use one scheme`,
      });
    if (seen?.has('https:') && input.registryMirrors[host] !== undefined)
      problems.push({
        path: INSECURE,
        message: `lists "${host}", both an https mirror (not verified) and a registry with mirrors (pulled over plain http): list it once, as one or the other`,
      });
  }
  return problems;
}
