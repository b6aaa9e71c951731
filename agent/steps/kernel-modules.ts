import { KctlError } from '../../proto/errors.js';
import type { Change } from '../../proto/results.js';
import { detectModule } from '../probes/modules.js';
import type { Step } from './step.js';
import { applyFileChange, fileChange } from './file.js';

export const MODULES_FILE = '/etc/modules-load.d/kctl.conf';

export function renderModulesFile(names: readonly string[]): string {
  return `# Managed by kctl: kernel modules loaded at boot.\n${[...names]
    .sort()
    .map((n) => `${n}\n`)
    .join('')}`;
}

/**
 * Kernel modules: persisted for boot, modprobe'd now when loadable, nothing for built-in ones,
 * and a failure naming what needs a module that this kernel does not have.
 */
export const kernelModulesStep = (want: ReadonlyArray<{ name: string; requiredFor: string }>): Step => {
  const persisted = (states: Map<string, string>): string[] =>
    want
      .filter((m) => states.get(m.name) !== 'builtin' && states.get(m.name) !== 'missing')
      .map((m) => m.name);
  return {
    id: 'kernel-modules',
    title: 'kernel modules',
    dependsOn: [],
    async diff(host) {
      const states = new Map<string, string>();
      for (const m of want) states.set(m.name, await detectModule(host, m.name));
      const changes: Change[] = [];
      for (const m of want) {
        const state = states.get(m.name);
        if (state === 'loadable')
          changes.push({ kind: 'module', name: m.name, action: 'load', requiredFor: m.requiredFor });
        if (state === 'missing')
          changes.push({ kind: 'module', name: m.name, action: 'missing', requiredFor: m.requiredFor });
      }
      const names = persisted(states);
      if (names.length > 0) {
        const file = await fileChange(host, {
          path: MODULES_FILE,
          content: renderModulesFile(names),
          mode: 0o644,
        });
        if (file) changes.push(file);
      }
      return changes;
    },
    async apply(host, changes) {
      const missing = changes.filter((c) => c.kind === 'module' && c.action === 'missing');
      if (missing.length > 0) {
        const list = missing
          .map((c) => (c.kind === 'module' ? `${c.name} (needed by ${c.requiredFor})` : ''))
          .join(', ');
        throw new KctlError('step_failed', `Kernel modules missing from this kernel: ${list}`, {
          details: { remedy: 'use kube-proxy mode iptables or nftables, or a kernel with these modules' },
        });
      }
      for (const c of changes) {
        if (c.kind === 'module' && c.action === 'load')
          await host.run('modprobe', ['--', c.name], { timeoutMs: 30_000 });
      }
      const states = new Map<string, string>();
      for (const m of want) states.set(m.name, await detectModule(host, m.name));
      for (const c of changes)
        if (c.kind === 'file') await applyFileChange(host, c, renderModulesFile(persisted(states)));
    },
  };
};
