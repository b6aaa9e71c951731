import type { Host } from '../host/host.js';

export interface SwapEntry {
  filename: string;
  type: string;
  sizeKiB: number;
  usedKiB: number;
  priority: number;
}

/** /proc/swaps after its header line; names have "\040" for spaces. */
export function parseSwaps(text: string): SwapEntry[] {
  const entries: SwapEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    const [filename, type, size, used, priority] = line.trim().split(/\s+/);
    if (!filename || type === undefined) continue;
    entries.push({
      filename: filename.replace(/\\040/g, ' '),
      type,
      sizeKiB: Number(size ?? 0),
      usedKiB: Number(used ?? 0),
      priority: Number(priority ?? 0),
    });
  }
  return entries;
}

export async function readSwaps(host: Host): Promise<SwapEntry[]> {
  return parseSwaps((await host.readFile('/proc/swaps')) ?? '');
}
