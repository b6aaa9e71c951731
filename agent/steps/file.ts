import { createHash } from 'node:crypto';
import { createTwoFilesPatch } from 'diff';
import type { Change } from '../../proto/results.js';
import { KctlError } from '../../proto/errors.js';
import type { Host } from '../host/host.js';
import type { Step } from './step.js';
import { restartChanges } from './restarts.js';

export const SENSITIVE_DIFF = '(content hidden: sensitive file)';

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface WantedFile {
  path: string;
  content: string;
  mode: number;
  sensitive?: boolean;
  owner?: { uid: number; gid: number } | undefined;
  /** units to restart, after every step, when this file changes */
  restarts?: readonly string[] | undefined;
}

/** The change needed to make `path` hold `content` with `mode` (and owner), or undefined when it already does. */
export async function fileChange(
  host: Host,
  want: WantedFile,
): Promise<Extract<Change, { kind: 'file' }> | undefined> {
  const current = await host.readFile(want.path);
  const stat = current === undefined ? undefined : await host.stat(want.path);
  const ownerOk = !want.owner || (stat?.uid === want.owner.uid && stat.gid === want.owner.gid);
  if (current === want.content && stat?.mode === want.mode && ownerOk) return undefined;
  const diff = want.sensitive
    ? SENSITIVE_DIFF
    : current === want.content
      ? attributeDiff(stat, want)
      : createTwoFilesPatch(
          want.path,
          want.path,
          current ?? '',
          want.content,
          current === undefined ? '(absent)' : '',
          '',
          { context: 3 },
        );
  return {
    kind: 'file',
    path: want.path,
    mode: want.mode,
    diff,
    previousSha256: current === undefined ? null : sha256(current),
    nextSha256: sha256(want.content),
    sensitive: want.sensitive ?? false,
    ...(want.owner ? { uid: want.owner.uid, gid: want.owner.gid } : {}),
  };
}

function attributeDiff(
  stat: { mode: number; uid: number; gid: number } | undefined,
  want: WantedFile,
): string {
  const parts: string[] = [];
  if (stat?.mode !== want.mode)
    parts.push(`mode ${(stat?.mode ?? 0).toString(8)} -> ${want.mode.toString(8)}`);
  if (want.owner && (stat?.uid !== want.owner.uid || stat.gid !== want.owner.gid))
    parts.push(`owner ${stat?.uid ?? '?'}:${stat?.gid ?? '?'} -> ${want.owner.uid}:${want.owner.gid}`);
  return parts.join(', ');
}

/**
 * Writes a planned file change. The content comes from the step's spec, and its hash must equal
 * the planned one: apply does what the plan showed, or refuses.
 */
export async function applyFileChange(
  host: Host,
  change: Extract<Change, { kind: 'file' }>,
  content: string,
): Promise<void> {
  if (sha256(content) !== change.nextSha256) {
    throw new KctlError(
      'plan_stale',
      `The content planned for "${change.path}" changed since the plan was made`,
    );
  }
  await host.writeFileAtomic(change.path, content, {
    mode: change.mode,
    ...(change.uid !== undefined ? { uid: change.uid } : {}),
    ...(change.gid !== undefined ? { gid: change.gid } : {}),
  });
}

/** Generic file step: content, mode and owner; atomic write with a backup of the old content. */
export function fileStep(want: WantedFile, dependsOn: string[] = []): Step {
  return {
    id: `file:${want.path}`,
    title: `file ${want.path}`,
    dependsOn,
    async diff(host) {
      const c = await fileChange(host, want);
      // a restart is a consequence of the change, pending only while the change is
      return c ? [c, ...restartChanges(want.restarts, `${want.path} changed`)] : [];
    },
    async apply(host, changes) {
      for (const c of changes) if (c.kind === 'file') await applyFileChange(host, c, want.content);
    },
  };
}
