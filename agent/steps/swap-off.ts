import type { Change } from '../../proto/results.js';
import { readSwaps } from '../probes/swaps.js';
import type { Host } from '../host/host.js';
import type { Step } from './step.js';

const FSTAB = '/etc/fstab';
const MARK = '# kctl: swap disabled: ';

/** systemd-escape --path: the unit name systemd gives a swap device or file. */
export function swapUnitName(path: string): string {
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  let out = '';
  for (const [i, ch] of [...trimmed].entries()) {
    if (ch === '/') out += '-';
    else if (/[A-Za-z0-9:_]/.test(ch) || (ch === '.' && i > 0)) out += ch;
    else out += [...Buffer.from(ch)].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('');
  }
  return `${out}.swap`;
}

/** fstab lines that mount swap and are not commented out. */
export function activeFstabSwapLines(fstab: string): string[] {
  return fstab.split('\n').filter((line) => {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) return false;
    const fields = t.split(/\s+/);
    return fields[2] === 'swap';
  });
}

export function commentFstabLines(fstab: string, lines: readonly string[]): string {
  const set = new Set(lines);
  return fstab
    .split('\n')
    .map((l) => (set.has(l) ? `${MARK}${l}` : l))
    .join('\n');
}

/** systemd runs (sd_booted): masking a swap unit only matters, and only works, then. */
async function systemdRunning(host: Host): Promise<boolean> {
  return (await host.stat('/run/systemd/system'))?.isDirectory === true;
}

const SWAP_UNIT = /^[A-Za-z0-9:_.\\-]{1,250}\.swap$/;

/** First column of `systemctl list-units --plain --no-legend` output: the unit names. */
export function parseSwapUnits(output: string): string[] {
  return output
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((u) => SWAP_UNIT.test(u));
}

/**
 * The swap units behind the active swap devices: the device's own name (systemd-escape --path)
 * and every active .swap unit systemd reports, which covers the aliases a device has
 * (dev-disk-by\x2duuid-....swap). Units of inactive swap are left alone.
 */
async function activeSwapUnits(host: Host, devices: readonly string[]): Promise<string[]> {
  if (devices.length === 0) return [];
  const units = new Set(devices.map(swapUnitName));
  const listed = await host.run(
    'systemctl',
    ['list-units', '--type=swap', '--state=active', '--plain', '--no-legend', '--no-pager'],
    { allowFailure: true, timeoutMs: 30_000 },
  );
  if (listed.exitCode === 0) for (const u of parseSwapUnits(listed.stdout)) units.add(u);
  return [...units].sort();
}

/** Swap off now (swapoff), at boot (fstab lines commented), and not re-activated by systemd (units masked). */
export const swapOffStep = (): Step => ({
  id: 'swap-off',
  title: 'swap off',
  dependsOn: [],
  async diff(host) {
    const changes: Change[] = [];
    const swaps = await readSwaps(host);
    for (const s of swaps) changes.push({ kind: 'swapoff', device: s.filename });
    for (const line of activeFstabSwapLines((await host.readFile(FSTAB)) ?? ''))
      changes.push({ kind: 'fstab-comment', line });
    if (await systemdRunning(host)) {
      for (const unit of await activeSwapUnits(
        host,
        swaps.map((s) => s.filename),
      )) {
        const link = await host.stat(`/etc/systemd/system/${unit}`);
        if (!link?.isSymlink) changes.push({ kind: 'unit-mask', unit });
      }
    }
    return changes;
  },
  async apply(host, changes) {
    const fstabLines: string[] = [];
    for (const c of changes) {
      if (c.kind === 'swapoff') await host.run('swapoff', ['--', c.device], { timeoutMs: 120_000 });
      if (c.kind === 'unit-mask') await host.run('systemctl', ['mask', '--', c.unit], { timeoutMs: 30_000 });
      if (c.kind === 'fstab-comment') fstabLines.push(c.line);
    }
    if (fstabLines.length > 0) {
      const current = (await host.readFile(FSTAB)) ?? '';
      await host.writeFileAtomic(FSTAB, commentFstabLines(current, fstabLines));
    }
  },
});
