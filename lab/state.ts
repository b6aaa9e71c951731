import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { KctlError, describeZodError } from '../proto/errors.js';

/**
 * What a lab created, in <dir>/lab.json, written before each thing is made so that `lab down`
 * from a new process (or after a crash half-way through `lab up`) finds everything.
 */
export const DEFAULT_LAB_DIR = '/var/lib/kctl/lab';
export const LAB_STATE_FILE = 'lab.json';

const ProcessRef = z.strictObject({
  pid: z.number().int().positive(),
  /** field 22 of /proc/<pid>/stat, so a reused pid is never signalled */
  startTime: z.string(),
});
export type ProcessRef = z.infer<typeof ProcessRef>;

export const LabHostState = z.strictObject({
  index: z.number().int().positive(),
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
  address: z.string(),
  netns: z.string(),
  vethHost: z.string(),
  /** the directory systemd-nspawn boots */
  root: z.string(),
  storage: z.enum(['overlay', 'copy']),
  /** the host's own files (overlay upper/work, or the copy) */
  hostDir: z.string(),
  machineId: z.string().regex(/^[0-9a-f]{32}$/),
  logFile: z.string(),
  nspawn: ProcessRef.optional(),
  leaderPid: z.number().int().positive().optional(),
});
export type LabHostState = z.infer<typeof LabHostState>;

export const LabState = z.strictObject({
  version: z.literal(1),
  dir: z.string(),
  /** lab down removes the directory itself only when lab up made it */
  dirCreated: z.boolean(),
  createdAt: z.string(),
  baseRootfs: z.string(),
  bridge: z.strictObject({ name: z.string(), address: z.string(), prefixLength: z.number() }),
  hosts: z.array(LabHostState),
});
export type LabState = z.infer<typeof LabState>;

export function labStatePath(dir: string): string {
  return join(dir, LAB_STATE_FILE);
}

export async function readLabState(dir: string): Promise<LabState | undefined> {
  let text: string;
  try {
    text = await readFile(labStatePath(dir), 'utf8');
  } catch {
    return undefined;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new KctlError('invalid_config', `"${labStatePath(dir)}" is not JSON`, { cause });
  }
  const parsed = LabState.safeParse(json);
  if (!parsed.success) {
    throw new KctlError('invalid_config', `"${labStatePath(dir)}": ${describeZodError(parsed.error)}`);
  }
  return parsed.data;
}

/** Atomic: a crash leaves the old file or the new one. */
export async function writeLabState(state: LabState): Promise<void> {
  await mkdir(state.dir, { recursive: true });
  const path = labStatePath(state.dir);
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}
