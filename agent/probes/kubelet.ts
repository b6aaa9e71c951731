import type { Host } from '../host/host.js';

/** "Kubernetes v1.31.2" -> "v1.31.2"; undefined when the output has no version. */
export function parseKubeletVersion(output: string): string | undefined {
  const version = /\bv?(\d+\.\d+\.\d+[0-9A-Za-z.+-]*)/.exec(output)?.[1];
  return version === undefined ? undefined : `v${version}`;
}

/** The installed kubelet's version, or undefined when there is no kubelet or it does not answer quickly. */
export async function readKubeletVersion(host: Host, timeoutMs = 2000): Promise<string | undefined> {
  if ((await host.which('kubelet')) === undefined) return undefined;
  try {
    const result = await host.run('kubelet', ['--version'], { timeoutMs, allowFailure: true });
    return result.exitCode === 0 ? parseKubeletVersion(result.stdout) : undefined;
  } catch {
    return undefined;
  }
}
