import { Command } from 'commander';
import { z } from 'zod';
import { TokenCreateResponse } from '../../proto/admin-api.js';
import { KctlError } from '../../proto/errors.js';
import { caPinOf } from '../../proto/ca-pin.js';
import { HostRole } from '../../proto/checks.js';
import { PlainHttpsUrl, renderCloudInit } from '../cloud-init.js';
import { loadClientConfig } from './client-config.js';
import type { CliContext } from './context.js';
import { parseLabels } from './token-cmd.js';
import { parseTokenTtl } from '../tokens.js';

export const AGENT_ARTIFACT = 'kctl-agent-linux-x64';

interface CloudInitFlags {
  role: string;
  labels?: string;
  ttl?: string;
  /** --controller, each comma list split */
  controller: string[];
}

/** `#cloud-config` that installs the agent from the controller and enrolls it with a fresh one-use token. */
export function cloudInitCommand(ctx: CliContext): Command {
  return new Command('cloud-init')
    .description('print #cloud-config user-data that installs and enrolls an agent (fresh one-use token)')
    .requiredOption('--role <role>', `the host's role: ${HostRole.options.join(', ')}`)
    .option('--labels <k=v,...>', 'more labels for the host')
    .option('--ttl <duration>', 'token lifetime, e.g. 30m, 1h, 24h (default 1h, max 24h)')
    .option(
      '--controller <url[,url...]>',
      "the controller replicas' URLs for agent.yaml, repeatable (default: the controller of the kctl config)",
      (value: string, previous: string[]) => [...previous, ...value.split(',')],
      [] as string[],
    )
    .action(async (opts: CloudInitFlags, self: Command) => {
      const role = HostRole.safeParse(opts.role);
      if (!role.success) {
        throw new KctlError(
          'invalid_args',
          `--role: "${opts.role}" must be one of ${HostRole.options.join(', ')}`,
        );
      }
      // flags are checked before anything touches the network
      const ttlMs = parseTokenTtl(opts.ttl, '--ttl');
      opts.controller.forEach((url, index) => {
        const parsed = PlainHttpsUrl.safeParse(url);
        if (!parsed.success) {
          throw new KctlError(
            'invalid_args',
            `--controller "${url}" (controller ${index + 1}): ${parsed.error.issues[0]?.message ?? 'invalid'}`,
          );
        }
      });
      const labels = { ...parseLabels(opts.labels), role: opts.role };
      const { config } = self.optsWithGlobals<{ config?: string }>();
      const clientConfig = await loadClientConfig(config);
      const client = await ctx.client(self);
      const remedy =
        'build them into the controller data dir: npx tsx packaging/artifacts.ts <data-dir>/artifacts ' +
        '(the data dir `kctl controller run --data-dir` uses; a release package ships them)';
      const checksum = await client.text(`/artifacts/${AGENT_ARTIFACT}.sha256`).catch((err: unknown) => {
        if (err instanceof KctlError && err.code === 'not_found') {
          throw new KctlError(
            'not_found',
            `The controller has no agent artifact (${AGENT_ARTIFACT}.sha256) for cloud-init to download`,
            { details: { remedy } },
          );
        }
        throw err;
      });
      const sha = checksum.trim().split(/\s+/)[0] ?? '';
      if (
        !z
          .string()
          .regex(/^[0-9a-f]{64}$/)
          .safeParse(sha).success
      ) {
        throw new KctlError('not_found', `The controller serves no checksum for ${AGENT_ARTIFACT}`, {
          details: {
            remedy,
          },
        });
      }
      const token = await client.post(
        '/v1/admin/tokens',
        { ttlMs, uses: 1, labels, description: `cloud-init ${opts.role}` },
        TokenCreateResponse,
      );
      ctx.out(
        renderCloudInit({
          controllerUrls:
            opts.controller.length > 0 ? opts.controller : [clientConfig.controller.replace(/\/$/, '')],
          caPin: caPinOf(clientConfig.caPem),
          caCertPem: clientConfig.caPem,
          token: token.token,
          role: role.data,
          labels,
          agentArtifact: {
            url: `${clientConfig.controller.replace(/\/$/, '')}/artifacts/${AGENT_ARTIFACT}`,
            sha256: sha,
          },
        }),
      );
    });
}
