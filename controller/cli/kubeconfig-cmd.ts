import { open, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Command } from 'commander';
import { KubeconfigResponse } from '../../proto/certs.js';
import { KctlError } from '../../proto/errors.js';
import { loadClusterFile } from './cluster-file.js';
import type { CliContext } from './context.js';

/** Writes a credential: created 0600 (never readable by others, not even for a moment), then renamed. */
export async function writePrivateFile(path: string, content: string): Promise<void> {
  const tmp = join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export function kubeconfigCommand(ctx: CliContext): Command {
  return new Command('kubeconfig')
    .description(
      'a fresh admin kubeconfig for you, signed on a control plane (kubeadm kubeconfig user, group kubeadm:cluster-admins); written 0600',
    )
    .requiredOption('-f, --file <cluster.yaml>', 'the cluster spec')
    .option('--out <file>', 'where to write it ("-" for standard output); default ./<cluster>.kubeconfig')
    .option('--validity-hours <n>', 'how long its certificate is valid', '24')
    .action(async (opts: { file: string; out?: string; validityHours: string }, self: Command) => {
      const validityHours = Number(opts.validityHours);
      if (!Number.isInteger(validityHours) || validityHours < 1 || validityHours > 8760)
        throw new KctlError(
          'invalid_args',
          `--validity-hours: "${opts.validityHours}" is not a whole number of hours from 1 to 8760`,
        );
      const loaded = await loadClusterFile(opts.file);
      const client = await ctx.client(self);
      const r = await client.post(
        '/v1/admin/kubeconfig',
        { cluster: loaded.spec, validityHours },
        KubeconfigResponse,
      );
      if (opts.out === '-') {
        ctx.out(r.kubeconfig);
        return;
      }
      const name = (loaded.spec as { name?: unknown }).name;
      const path = resolve(opts.out ?? `${typeof name === 'string' ? name : 'cluster'}.kubeconfig`);
      await writePrivateFile(path, r.kubeconfig);
      ctx.out(
        `wrote ${path} (user ${r.clientName}, signed on ${r.host}, expires ${r.expiresAt})\n` +
          `  kubectl --kubeconfig ${path} get nodes\n`,
      );
    });
}
