import { KctlError } from '../../proto/errors.js';
import type { Change } from '../../proto/results.js';
import type { Step } from './step.js';
import { applyFileChange, fileChange } from './file.js';

export const SYSCTL_FILE = '/etc/sysctl.d/99-kctl.conf';

export function renderSysctlFile(want: Record<string, string>): string {
  const keys = Object.keys(want).sort();
  return `# Managed by kctl: the kernel settings Kubernetes needs.\n${keys.map((k) => `${k} = ${want[k]}\n`).join('')}`;
}

/** Sysctls persisted in /etc/sysctl.d/99-kctl.conf and set now. */
export const sysctlStep = (want: Record<string, string>): Step => ({
  id: 'sysctl',
  title: 'kernel parameters (sysctl)',
  dependsOn: ['kernel-modules'],
  async diff(host) {
    const changes: Change[] = [];
    for (const [key, value] of Object.entries(want).sort(([a], [b]) => a.localeCompare(b))) {
      const now = await host.readSysctl(key);
      if (now !== value) changes.push({ kind: 'sysctl', key, from: now ?? null, to: value });
    }
    const file = await fileChange(host, { path: SYSCTL_FILE, content: renderSysctlFile(want), mode: 0o644 });
    if (file) changes.push(file);
    return changes;
  },
  async apply(host, changes) {
    for (const c of changes) {
      if (c.kind === 'file') await applyFileChange(host, c, renderSysctlFile(want));
      if (c.kind === 'sysctl') {
        if (c.from === null && (await host.readSysctl(c.key)) === undefined) {
          throw new KctlError('step_failed', `sysctl ${c.key} does not exist on this kernel`, {
            details: { remedy: 'load the module that provides it, or use a kernel that has it' },
          });
        }
        await host.writeSysctl(c.key, c.to);
      }
    }
  },
});
