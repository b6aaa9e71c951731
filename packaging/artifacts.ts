/**
 * The files the controller serves to hosts at GET /artifacts/<name>: the single-file agent and the
 * install script, each with `<name>.sha256`, plus one SHA256SUMS for all of them.
 *
 *   npx tsx packaging/artifacts.ts OUTDIR
 */
import { copyFile, chmod, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checksumLine, sha256File, writeChecksumFile } from './checksums.js';
import { AGENT_SEA_NAME, REPO_ROOT, buildSea } from './sea/build.js';

export interface Artifact {
  name: string;
  path: string;
  sha256: string;
}

export const INSTALL_SCRIPT_NAME = 'kctl-agent-install.sh';

export interface ArtifactOptions {
  /** agent entry for the single executable; defaults to agent/main.ts */
  agentEntry?: string;
}

export async function buildArtifacts(outDir: string, options: ArtifactOptions = {}): Promise<Artifact[]> {
  await mkdir(outDir, { recursive: true });
  const agent = await buildSea({
    outDir,
    name: AGENT_SEA_NAME,
    ...(options.agentEntry ? { entry: options.agentEntry } : {}),
  });

  const script = join(outDir, INSTALL_SCRIPT_NAME);
  await copyFile(join(REPO_ROOT, 'packaging/install.sh'), script);
  await chmod(script, 0o755);
  const scriptSha = await sha256File(script);
  await writeChecksumFile(script, scriptSha);

  const artifacts: Artifact[] = [
    { name: AGENT_SEA_NAME, path: agent.path, sha256: agent.sha256 },
    { name: INSTALL_SCRIPT_NAME, path: script, sha256: scriptSha },
  ];
  await writeFile(join(outDir, 'SHA256SUMS'), artifacts.map((a) => checksumLine(a.sha256, a.name)).join(''));
  return artifacts;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = process.argv[2];
  if (!outDir) {
    process.stderr.write('usage: npx tsx packaging/artifacts.ts OUTDIR\n');
    process.exit(2);
  }
  for (const a of await buildArtifacts(outDir)) process.stdout.write(`${a.sha256}  ${a.name}\n`);
}
