import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { KctlError, describeZodError } from '../../proto/errors.js';

/** The file `kctl controller init` writes (0600): where the controller is and the admin credential. */
export const ClientConfig = z.strictObject({
  controller: z.url(),
  caPem: z.string().includes('BEGIN CERTIFICATE'),
  certPem: z.string().includes('BEGIN CERTIFICATE'),
  keyPem: z.string().includes('PRIVATE KEY'),
});
export type ClientConfig = z.infer<typeof ClientConfig>;

export function defaultClientConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.KCTL_CONFIG ?? join(homedir(), '.kctl', 'config.yaml');
}

/** --config, else KCTL_CONFIG, else ~/.kctl/config.yaml. */
export async function loadClientConfig(path: string | undefined): Promise<ClientConfig> {
  const file = path ?? defaultClientConfigPath();
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new KctlError(
      'invalid_config',
      `Cannot read kctl client config "${file}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      {
        details: {
          remedy:
            'run "kctl controller init --data-dir DIR" and pass --config DIR/kctl.yaml or set KCTL_CONFIG',
        },
      },
    );
  }
  let data: unknown;
  try {
    data = parseYaml(text, { maxAliasCount: 0 });
  } catch (err) {
    throw new KctlError('invalid_config', `${file}: not valid YAML: ${(err as Error).message}`);
  }
  const parsed = ClientConfig.safeParse(data);
  if (!parsed.success) throw new KctlError('invalid_config', `${file}: ${describeZodError(parsed.error)}`);
  return parsed.data;
}
