import type { Step } from './step.js';
import { applyFileChange, fileChange } from './file.js';

const BEGIN = '# BEGIN kctl';
const END = '# END kctl';

/** /etc/hosts with kctl's block (the control-plane endpoint name) replaced or appended; the rest kept. */
export function renderEtcHosts(
  current: string,
  entries: ReadonlyArray<{ name: string; address: string }>,
): string {
  const lines = current.split('\n');
  const start = lines.indexOf(BEGIN);
  const end = lines.indexOf(END);
  const kept = start >= 0 && end > start ? [...lines.slice(0, start), ...lines.slice(end + 1)] : lines;
  while (kept.length > 0 && kept[kept.length - 1] === '') kept.pop();
  const block = [BEGIN, ...entries.map((e) => `${e.address} ${e.name}`), END];
  return [...kept, ...block].join('\n') + '\n';
}

export const etcHostsStep = (entries: ReadonlyArray<{ name: string; address: string }>): Step => ({
  id: 'etc-hosts',
  title: '/etc/hosts entry for the control-plane endpoint',
  dependsOn: [],
  async diff(host) {
    const current = (await host.readFile('/etc/hosts')) ?? '';
    const mode = (await host.stat('/etc/hosts'))?.mode ?? 0o644;
    const c = await fileChange(host, { path: '/etc/hosts', content: renderEtcHosts(current, entries), mode });
    return c ? [c] : [];
  },
  async apply(host, changes) {
    const current = (await host.readFile('/etc/hosts')) ?? '';
    for (const c of changes)
      if (c.kind === 'file') await applyFileChange(host, c, renderEtcHosts(current, entries));
  },
});
