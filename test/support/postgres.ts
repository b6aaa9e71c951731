import { spawn, type ChildProcess } from 'node:child_process';
import { access, chmod, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

const run = promisify(execFile);

/** Debian's postgresql-15 (.ci/run installs it) */
export const PG_BIN = process.env.KCTL_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface ThrowawayPostgres {
  /** 127.0.0.1, password authentication */
  host: string;
  port: number;
  user: string;
  password: string;
  /** the unix socket directory, inside the temp dir */
  socketDir: string;
  /** postgres://user:password@127.0.0.1:port/<database> */
  url(database?: string): string;
  /** a new database, empty or a copy of `template` (faster than migrating each time); its name */
  createDatabase(prefix?: string, template?: string): Promise<string>;
  /** with `tls`: the CA that signed the server's certificate (names localhost and 127.0.0.1) */
  caPem: string | undefined;
  /** everything the server wrote to stderr so far */
  output(): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The user the cluster runs as: postgres refuses root; `nobody` exists everywhere. */
async function unprivilegedUser(): Promise<{ uid: number; gid: number }> {
  const uid = Number((await run('id', ['-u', 'nobody'])).stdout.trim());
  const gid = Number((await run('id', ['-g', 'nobody'])).stdout.trim());
  return { uid, gid };
}

/**
 * A PostgreSQL 15 cluster for one test file: initdb in a temp dir as an unprivileged user, started
 * on a random loopback port with its socket in the temp dir, password (SCRAM) auth over TCP.
 * stop() kills it and removes the directory. Durability is off (fsync, synchronous_commit): the
 * tests want behaviour, not crash safety, and the machine is shared.
 */
export async function startThrowawayPostgres(options: { tls?: boolean } = {}): Promise<ThrowawayPostgres> {
  try {
    await access(join(PG_BIN, 'initdb'));
  } catch {
    throw new Error(
      `PostgreSQL 15 is not installed (no ${join(PG_BIN, 'initdb')}): install the Debian package postgresql-15 (apt-get install postgresql-15; .ci/run does)`,
    );
  }
  const asUser = process.getuid?.() === 0 ? await unprivilegedUser() : undefined;
  const dir = await mkdtemp(join(tmpdir(), 'kctl-pg-'));
  const dataDir = join(dir, 'data');
  const socketDir = join(dir, 'sock');
  const user = 'kctl';
  const password = randomBytes(12).toString('hex');
  let proc: ChildProcess | undefined;
  let stderr = '';
  const cleanup = async (): Promise<void> => {
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise<void>((resolve) => proc?.once('exit', () => resolve()));
      proc.kill('SIGQUIT'); // immediate shutdown: nothing here is worth a checkpoint
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await writeFile(join(dir, 'pwfile'), `${password}\n`, { mode: 0o600 });
    await run('mkdir', ['-p', socketDir]);
    if (asUser) {
      for (const p of [dir, socketDir, join(dir, 'pwfile')]) await chown(p, asUser.uid, asUser.gid);
    }
    await chmod(dir, 0o700);
    const spawnOptions = { ...(asUser ?? {}), env: { ...process.env, LC_ALL: 'C' }, cwd: dir };
    await run(
      join(PG_BIN, 'initdb'),
      [
        '-D',
        dataDir,
        '-U',
        user,
        `--pwfile=${join(dir, 'pwfile')}`,
        '--auth-local=trust',
        '--auth-host=scram-sha-256',
        '-E',
        'UTF8',
        '--no-sync',
        '--no-instructions',
      ],
      spawnOptions,
    );
    const tlsArgs: string[] = [];
    let caPem: string | undefined;
    if (options.tls) {
      caPem = await makeServerCertificate(dir);
      if (asUser)
        for (const f of ['server.crt', 'server.key']) await chown(join(dir, f), asUser.uid, asUser.gid);
      tlsArgs.push(
        '-c',
        'ssl=on',
        '-c',
        `ssl_cert_file=${join(dir, 'server.crt')}`,
        '-c',
        `ssl_key_file=${join(dir, 'server.key')}`,
      );
    }
    let port = 0;
    for (let attempt = 0; ; attempt++) {
      port = await freePort();
      stderr = '';
      const child = spawn(
        join(PG_BIN, 'postgres'),
        [
          '-D',
          dataDir,
          '-p',
          String(port),
          '-k',
          socketDir,
          '-c',
          'listen_addresses=127.0.0.1',
          '-c',
          'fsync=off',
          '-c',
          'synchronous_commit=off',
          '-c',
          'full_page_writes=off',
          '-c',
          'max_connections=50',
          '-c',
          'shared_buffers=16MB',
          ...tlsArgs,
        ],
        { ...spawnOptions, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      proc = child;
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
      if (await ready(port, user, password, child)) break;
      if (attempt >= 2) throw new Error(`PostgreSQL did not start in ${dataDir}:\n${stderr}`);
      child.kill('SIGKILL'); // most likely the port was taken between freePort and bind
    }
    let databases = 0;
    const url = (database = 'postgres'): string =>
      `postgres://${user}:${password}@127.0.0.1:${port}/${database}`;
    return {
      host: '127.0.0.1',
      port,
      user,
      password,
      socketDir,
      url,
      async createDatabase(prefix = 'kctl_test', template?: string) {
        const name = `${prefix}_${process.pid}_${++databases}`;
        const client = new pg.Client({ connectionString: url() });
        await client.connect();
        try {
          await client.query(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ''}`);
        } finally {
          await client.end();
        }
        return name;
      },
      caPem,
      output: () => stderr,
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** A CA and a server certificate for localhost and 127.0.0.1, made with openssl; the CA's PEM. */
export async function makeServerCertificate(dir: string): Promise<string> {
  const f = (name: string): string => join(dir, name);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=kctl test database CA',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.crt'),
  ]);
  await run('openssl', [
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-subj',
    '/CN=localhost',
    '-keyout',
    f('server.key'),
    '-out',
    f('server.csr'),
  ]);
  await writeFile(f('san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.crt'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    f('san.ext'),
    '-out',
    f('server.crt'),
  ]);
  await chmod(f('server.key'), 0o600);
  return readFile(f('ca.crt'), 'utf8');
}

async function ready(port: number, user: string, password: string, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    const client = new pg.Client({ host: '127.0.0.1', port, user, password, database: 'postgres' });
    try {
      await client.connect();
      await client.end();
      return true;
    } catch {
      await client.end().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return false;
}
