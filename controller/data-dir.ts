import { chmod, mkdir, readFile, writeFile, access } from 'node:fs/promises';
import { X509Certificate, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import { stringify as toYaml } from 'yaml';
import { KctlError, describeZodError } from '../proto/errors.js';
import { caPinOf } from '../proto/ca-pin.js';
import { ConnectionAdmission } from './admission.js';
import { StoreLocation } from './store/store-location.js';
import { createCa, issueServerCert, issueAdminCert, type CaKeyPair } from './pki.js';

/** controller.json: what `controller init` decided, read by `controller run`. */
export const ControllerSettings = z.strictObject({
  listen: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be HOST:PORT'),
  sans: z.array(z.string()).max(64),
  /** the URL agents and kctl use to reach this controller */
  advertiseUrl: z.url(),
  heartbeatIntervalMs: z.number().int().min(100).default(10_000),
  agentCertValidityDays: z.number().int().min(1).max(30).default(30),
  /** scheduled health of running nodes (docs/health.md); 0 turns it off */
  healthIntervalMs: z.number().int().min(0).default(300_000),
  /** bounds on handshakes in flight during a reconnect storm (controller/admission.ts) */
  admission: ConnectionAdmission.prefault({}),
  /** where the state lives: SQLite in the data dir unless a postgres:// store is named (issue 16) */
  store: StoreLocation.optional(),
});
export type ControllerSettings = z.infer<typeof ControllerSettings>;

export interface DataDirFiles {
  dir: string;
  settings: ControllerSettings;
  ca: CaKeyPair;
  server: { certPem: string; keyPem: string };
  dbFile: string;
  artifactsDir: string;
}

const FILES = {
  settings: 'controller.json',
  caCert: 'ca.crt',
  caKey: 'ca.key',
  serverCert: 'server.crt',
  serverKey: 'server.key',
  clientConfig: 'kctl.yaml',
  db: 'state.db',
  artifacts: 'artifacts',
} as const;

export function clientConfigPath(dataDir: string): string {
  return join(dataDir, FILES.clientConfig);
}

export interface InitResult {
  caPin: string;
  clientConfig: string;
  advertiseUrl: string;
  created: boolean;
}

/** Files init writes (and the state it finds): any of them without ca.key means a CA was lost, not absent. */
const INIT_OUTPUTS = [
  FILES.caCert,
  FILES.serverCert,
  FILES.serverKey,
  FILES.settings,
  FILES.clientConfig,
  FILES.db,
] as const;

/**
 * `kctl controller init`: CA, serving certificate, admin credential and client config, all 0600.
 * Running it again keeps everything that exists (a second CA would orphan every enrolled host).
 * A directory that has some of these files but no ca.key lost its CA: init refuses rather than
 * make a new one, and never overwrites a file (each is created exclusively).
 */
export async function initDataDir(options: {
  dir: string;
  listen: string;
  sans: string[];
  /**
   * another replica's CA: a directory holding its ca.crt and ca.key (issue 16). This replica gets
   * its own serving certificate and admin credential from that CA, so one agent pin fits every
   * replica; the CA key stays in the replicas' data dirs (0600), never in the shared database.
   */
  caFrom?: string;
}): Promise<InitResult> {
  const { dir } = options;
  const sharedCa = options.caFrom !== undefined ? await readReplicaCa(options.caFrom) : undefined;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  if (await exists(join(dir, FILES.caKey))) {
    const loaded = await loadDataDir(dir);
    if (sharedCa !== undefined && caPinOf(sharedCa.certPem) !== caPinOf(loaded.ca.certPem)) {
      throw new KctlError(
        'invalid_config',
        `"${dir}" already holds a controller CA (${caPinOf(loaded.ca.certPem)}) that is not the CA in "${options.caFrom}" (${caPinOf(sharedCa.certPem)})`,
        { details: { remedy: `initialise the replica in an empty directory` } },
      );
    }
    return {
      caPin: caPinOf(loaded.ca.certPem),
      clientConfig: clientConfigPath(dir),
      advertiseUrl: loaded.settings.advertiseUrl,
      created: false,
    };
  }
  const { host, port } = splitHostPort(options.listen);
  const leftovers: string[] = [];
  for (const name of INIT_OUTPUTS) if (await exists(join(dir, name))) leftovers.push(join(dir, name));
  if (leftovers.length > 0) {
    throw new KctlError(
      'invalid_config',
      `Refusing to initialise "${dir}": "${join(dir, FILES.caKey)}" is missing but ${leftovers
        .map((f) => `"${f}"`)
        .join(
          ', ',
        )} exist${leftovers.length === 1 ? 's' : ''}; a new CA would break the pin of every enrolled agent`,
      {
        details: {
          remedy:
            `restore ${FILES.caKey} (and the other files) from a backup of ${dir}; to start over with a new CA ` +
            `on purpose, move ${dir} aside, run init again, and re-enroll every agent with the new CA pin`,
          missing: join(dir, FILES.caKey),
          found: leftovers,
        },
      },
    );
  }
  const advertiseHost = host === '0.0.0.0' || host === '::' || host === '[::]' ? '127.0.0.1' : host;
  const sans = [
    ...new Set(['localhost', '127.0.0.1', '::1', advertiseHost.replace(/^\[|\]$/g, ''), ...options.sans]),
  ];
  const advertiseUrl = `https://${advertiseHost}:${port}`;
  const ca = sharedCa ?? (await createCa({ commonName: 'kctl controller CA' }));
  const server = await issueServerCert(ca, { sans });
  const admin = await issueAdminCert(ca, { name: 'admin' });
  const settings: ControllerSettings = ControllerSettings.parse({
    listen: options.listen,
    sans,
    advertiseUrl,
  });

  await writeSecret(join(dir, FILES.caKey), ca.keyPem);
  await writeSecret(join(dir, FILES.serverKey), server.keyPem);
  await writeNew(join(dir, FILES.caCert), ca.certPem, 0o644);
  await writeNew(join(dir, FILES.serverCert), server.certPem, 0o644);
  await writeNew(join(dir, FILES.settings), JSON.stringify(settings, null, 2) + '\n', 0o644);
  await writeSecret(
    clientConfigPath(dir),
    toYaml({ controller: advertiseUrl, caPem: ca.certPem, certPem: admin.certPem, keyPem: admin.keyPem }),
  );
  return { caPin: caPinOf(ca.certPem), clientConfig: clientConfigPath(dir), advertiseUrl, created: true };
}

/** ca.crt and ca.key of another replica's data dir (or a copy of the two), checked to be one pair. */
async function readReplicaCa(from: string): Promise<CaKeyPair> {
  const read = async (name: string): Promise<string> => {
    try {
      return await readFile(join(from, name), 'utf8');
    } catch (err) {
      throw new KctlError(
        'invalid_args',
        `--ca-from: cannot read "${join(from, name)}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      );
    }
  };
  const certPem = await read(FILES.caCert);
  const keyPem = await read(FILES.caKey);
  try {
    const cert = new X509Certificate(certPem);
    if (!cert.ca) throw new Error('the certificate is not a CA certificate');
    const spki = (k: KeyObject): Buffer => k.export({ type: 'spki', format: 'der' });
    if (!spki(createPublicKey(createPrivateKey(keyPem))).equals(spki(cert.publicKey)))
      throw new Error('the key does not belong to the certificate');
  } catch (err) {
    // a key parse error's message never contains the key itself
    throw new KctlError(
      'invalid_args',
      `--ca-from: "${join(from, FILES.caCert)}" and "${join(from, FILES.caKey)}" are not a CA and its key: ${(err as Error).message}`,
    );
  }
  return { certPem, keyPem };
}

export async function loadDataDir(dir: string): Promise<DataDirFiles> {
  const read = async (name: string): Promise<string> => {
    try {
      return await readFile(join(dir, name), 'utf8');
    } catch (err) {
      throw new KctlError(
        'invalid_config',
        `Cannot read "${join(dir, name)}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
        {
          details: { remedy: `run "kctl controller init --data-dir ${dir}" first` },
        },
      );
    }
  };
  const settingsText = await read(FILES.settings);
  let settingsJson: unknown;
  try {
    settingsJson = JSON.parse(settingsText);
  } catch (err) {
    throw new KctlError(
      'invalid_config',
      `${join(dir, FILES.settings)}: not valid JSON: ${(err as Error).message}`,
    );
  }
  const parsed = ControllerSettings.safeParse(settingsJson);
  if (!parsed.success) {
    throw new KctlError('invalid_config', `${join(dir, FILES.settings)}: ${describeZodError(parsed.error)}`);
  }
  return {
    dir,
    settings: parsed.data,
    ca: { certPem: await read(FILES.caCert), keyPem: await read(FILES.caKey) },
    server: { certPem: await read(FILES.serverCert), keyPem: await read(FILES.serverKey) },
    dbFile: join(dir, FILES.db),
    artifactsDir: join(dir, FILES.artifacts),
  };
}

export function splitHostPort(listen: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new KctlError('invalid_args', `--listen: "${listen}" is not HOST:PORT`);
  return { host: m[1] ?? '', port };
}

async function writeSecret(path: string, content: string): Promise<void> {
  await writeNew(path, content, 0o600);
  await chmod(path, 0o600);
}

/** Creates the file; one that appeared since the check (a second init at once) is never overwritten. */
async function writeNew(path: string, content: string, mode: number): Promise<void> {
  try {
    await writeFile(path, content, { mode, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    throw new KctlError('invalid_config', `Refusing to overwrite "${path}" during controller init`, {
      details: { remedy: 'another init ran at the same time; run init again to use what it made' },
    });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
