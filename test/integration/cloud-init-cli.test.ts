import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { AuditList, TokenList } from '../../proto/admin-api.js';
import { agentControllerUrls, parseAgentConfig } from '../../agent/config.js';
import { cleanup, kctl, startControllerProcess, tempDir, type ControllerHandle } from './harness.js';

describe('kctl cloud-init', () => {
  let controller: ControllerHandle;
  let dir: string;
  const agentBytes = Buffer.from('#!/bin/sh\necho stand-in agent binary for this test\n');
  const sha = createHash('sha256').update(agentBytes).digest('hex');

  beforeAll(async () => {
    controller = await startControllerProcess();
    const artifacts = join(controller.dataDir, 'artifacts');
    await mkdir(artifacts, { recursive: true });
    await writeFile(join(artifacts, 'kctl-agent-linux-x64'), agentBytes);
    await writeFile(join(artifacts, 'kctl-agent-linux-x64.sha256'), `${sha}  kctl-agent-linux-x64\n`);
    dir = await tempDir('cloud-init');
  }, 30_000);
  afterAll(async () => {
    await controller.proc.stop();
    await cleanup([controller.dataDir, dir]);
  });

  it('prints user-data with a fresh one-use token, the artifact checksum and the CA; cloud-init accepts it', async () => {
    const r = await kctl(['cloud-init', '--role', 'worker', '--labels', 'zone=a'], {
      env: { KCTL_CONFIG: controller.clientConfig },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.startsWith('#cloud-config\n')).toBe(true);
    expect(r.stdout).toContain(sha);
    expect(r.stdout).toContain(controller.caPin);
    const tokens = (await controller.api.get('/v1/admin/tokens', TokenList)).tokens;
    expect(tokens).toHaveLength(1);
    expect(tokens[0]).toMatchObject({ usesTotal: 1, labels: { role: 'worker', zone: 'a' } });
    const token = new RegExp(`${tokens[0]!.id}\\.[a-z0-9]{16}`).exec(r.stdout)?.[0];
    expect(token).toBeDefined();
    expect(r.stdout.split(token!).length - 1).toBe(1);
    if (existsSync('/usr/bin/cloud-init')) {
      const file = join(dir, 'user-data');
      await writeFile(file, r.stdout);
      execFileSync('cloud-init', ['schema', '--config-file', file], { stdio: 'pipe' });
    }
  });

  it('serves artifacts publicly but nothing outside the artifacts dir', async () => {
    expect((await controller.api.text('/artifacts/kctl-agent-linux-x64.sha256')).trim()).toBe(
      `${sha}  kctl-agent-linux-x64`,
    );
    await expect(controller.api.text('/artifacts/..%2Fca.key')).rejects.toMatchObject({ code: 'not_found' });
    await expect(controller.api.text('/artifacts/state.db')).rejects.toMatchObject({ code: 'not_found' });
  });

  it('creates fleet page login tokens with kctl web token create, audited', async () => {
    const r = await kctl(['web', 'token', 'create', '--read-only', '--ttl', '12h'], {
      env: { KCTL_CONFIG: controller.clientConfig },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\S+\.\S+$/);
    const { entries } = await controller.api.get('/v1/admin/audit?limit=20', AuditList);
    expect(entries.find((e) => e.action === 'web-token.create')?.details).toEqual({ readOnly: true });
  });

  it('says how to build the agent artifact when the controller has none, and mints no token', async () => {
    const dir = join(controller.dataDir, 'artifacts');
    const kept = join(controller.dataDir, 'artifacts.kept');
    await rename(dir, kept);
    try {
      const before = (await controller.api.get('/v1/admin/audit?limit=50', AuditList)).entries.length;
      const r = await kctl(['cloud-init', '--role', 'worker'], {
        env: { KCTL_CONFIG: controller.clientConfig },
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('The controller has no agent artifact (kctl-agent-linux-x64.sha256)');
      expect(r.stderr).toContain('npx tsx packaging/artifacts.ts <data-dir>/artifacts');
      const after = (await controller.api.get('/v1/admin/audit?limit=50', AuditList)).entries.length;
      expect(after, 'no token was created').toBe(before);
    } finally {
      await rename(kept, dir);
    }
  });

  it('refuses an unknown role, naming the flag', async () => {
    const r = await kctl(['cloud-init', '--role', 'boss'], { env: { KCTL_CONFIG: controller.clientConfig } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--role');
  });

  it('writes the replica URLs given with --controller (repeated or comma-separated) into agent.yaml', async () => {
    const r = await kctl(
      [
        'cloud-init',
        '--role',
        'worker',
        '--controller',
        controller.url,
        '--controller',
        'https://c2.example:7443,https://[fd00::3]:7443',
      ],
      { env: { KCTL_CONFIG: controller.clientConfig } },
    );
    expect(r.code, r.stderr).toBe(0);
    const files = (parseYaml(r.stdout) as { write_files: Array<{ path: string; content: string }> })
      .write_files;
    const agentYaml = files.find((f) => f.path === '/etc/kctl/agent.yaml')!.content;
    expect(agentControllerUrls(parseAgentConfig(agentYaml, 'agent.yaml'))).toEqual([
      controller.url,
      'https://c2.example:7443',
      'https://[fd00::3]:7443',
    ]);
  });

  it('refuses a --controller that is not an https URL, naming it, before minting a token', async () => {
    const before = (await controller.api.get('/v1/admin/tokens', TokenList)).tokens.length;
    const r = await kctl(
      ['cloud-init', '--role', 'worker', '--controller', `${controller.url},http://c2.example:7443`],
      { env: { KCTL_CONFIG: controller.clientConfig } },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--controller "http://c2.example:7443" (controller 2)');
    expect((await controller.api.get('/v1/admin/tokens', TokenList)).tokens.length).toBe(before);
  });
});
