import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { KctlError } from '../../proto/errors.js';
import type { ClusterSpec } from '../../proto/cluster-spec.js';
import { parseClusterSpec } from '../spec/parse.js';

export interface LoadedCluster {
  spec: ClusterSpec;
  cniManifest?: string;
  warnings: string[];
}

/** Reads cluster.yaml (and the CNI manifest it names) and validates it locally, every error with its path. */
export async function loadClusterFile(file: string): Promise<LoadedCluster> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new KctlError(
      'invalid_spec',
      `Cannot read "${file}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  const r = parseClusterSpec(text, file);
  if (!r.ok) {
    throw new KctlError(
      'invalid_spec',
      `${file} is not valid:\n${r.errors.map((e) => `  ${e.path}: ${e.message}`).join('\n')}`,
      {
        details: { issues: r.errors },
      },
    );
  }
  let cniManifest: string | undefined;
  if (r.spec.cni.manifest !== undefined) {
    const path = resolve(dirname(file), r.spec.cni.manifest);
    try {
      cniManifest = await readFile(path, 'utf8');
    } catch (err) {
      throw new KctlError(
        'invalid_spec',
        `cni.manifest: cannot read "${path}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      );
    }
  }
  return {
    spec: r.spec,
    ...(cniManifest !== undefined ? { cniManifest } : {}),
    warnings: r.warnings.map((w) => `${w.path}: ${w.message}`),
  };
}

/** What `kctl plan -o plan.json` saves and `kctl apply plan.json` replays. */
export const SavedPlan = z.strictObject({
  kind: z.literal('kctl-plan'),
  planHash: z.string(),
  spec: z.record(z.string(), z.unknown()),
  cniManifest: z.string().optional(),
  phases: z.array(z.string()).optional(),
});
export type SavedPlan = z.infer<typeof SavedPlan>;

/**
 * The request body of commands that look at some hosts (health, preflight, certs check): `--hosts`
 * as a list, and cluster.yaml's parsed spec with `-f`; each only when given.
 */
export async function hostSelection(opts: {
  hosts?: string;
  file?: string;
}): Promise<{ hosts?: string[]; cluster?: unknown }> {
  const hosts = opts.hosts
    ?.split(',')
    .map((h) => h.trim())
    .filter((h) => h !== '');
  const cluster = opts.file ? (await loadClusterFile(opts.file)).spec : undefined;
  return { ...(hosts ? { hosts } : {}), ...(cluster !== undefined ? { cluster } : {}) };
}
