import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { KctlError } from '../proto/errors.js';
import { renderCloudInit, type CloudInitInput } from './cloud-init.js';

// a throwaway EC P-256 CA certificate, used only to exercise the pin check
const CA_PEM = `-----BEGIN CERTIFICATE-----
MIIBjjCCATSgAwIBAgIUa/ZyzePB8W+MZUy8yyi318XPYqkwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMB4XDTI2MTEyMjE5MTYxNVoXDTI2MTEyMzE5
MTYxNVowFDESMBAGA1UEAwwJMTI3LjAuMC4xMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAECpQSL8nX1hYtrrLqRZZ6XD5dU5pWSVlXnzZgZFBMIRTktq8R86RTeCwE
Ebv5F5eDhN0pGeW5QWkOg73yH/CRl6NkMGIwHQYDVR0OBBYEFAimJpxKv3mFjKuK
+ENPjC3f6BYXMB8GA1UdIwQYMBaAFAimJpxKv3mFjKuK+ENPjC3f6BYXMA8GA1Ud
EwEB/wQFMAMBAf8wDwYDVR0RBAgwBocEfwAAATAKBggqhkjOPQQDAgNIADBFAiEA
j+UX4AxdwTl8Cq40gZPhpnj0a+WtG/TO9DLjz7yxvD4CIHq+v7+Rr3LYXa24tMjB
kJU6BwPMzeA7gOeZbUw0IiU+
-----END CERTIFICATE-----
`;
const CA_PIN = 'sha256:01265aed44142c0610c986193c9e635b727150847fcbaf448de1ad29a0fbf1f2';
const TOKEN = 'abcdef.0123456789abcdef';
const SHA = 'c'.repeat(64);

const input = (over: Partial<CloudInitInput> = {}): CloudInitInput => ({
  controllerUrl: 'https://198.18.0.1:7443',
  caPin: CA_PIN,
  caCertPem: CA_PEM,
  token: TOKEN,
  role: 'worker',
  labels: { zone: 'a' },
  agentArtifact: { url: 'https://198.18.0.1:7443/artifacts/kctl-agent-linux-x64', sha256: SHA },
  ...over,
});

interface UserData {
  write_files: Array<{ path: string; permissions: string; owner: string; content: string }>;
  runcmd: unknown[];
}

const userData = (text: string): UserData => parse(text) as UserData;
const fileAt = (data: UserData, path: string) => data.write_files.find((f) => f.path === path);

describe('renderCloudInit', () => {
  it('starts with the #cloud-config header cloud-init requires', () => {
    expect(renderCloudInit(input()).split('\n')[0]).toBe('#cloud-config');
  });

  it.each(['worker', 'control-plane', 'etcd', 'lb'] as const)(
    'writes agent.yaml 0600 with the role %s as a label',
    (role) => {
      const config = fileAt(userData(renderCloudInit(input({ role }))), '/etc/kctl/agent.yaml');
      expect(config).toMatchObject({ permissions: '0600', owner: 'root:root' });
      expect(parse(config!.content)).toEqual({
        controllers: ['https://198.18.0.1:7443'],
        caPin: CA_PIN,
        token: TOKEN,
        labels: { zone: 'a', role },
      });
    },
  );

  it('puts the token in agent.yaml and nowhere else', () => {
    const text = renderCloudInit(input());
    expect(text.split(TOKEN)).toHaveLength(2);
    const data = userData(text);
    const holders = data.write_files.filter((f) => f.content.includes(TOKEN)).map((f) => f.path);
    expect(holders).toEqual(['/etc/kctl/agent.yaml']);
    expect(JSON.stringify(data.runcmd)).not.toContain(TOKEN);
  });

  it('runs only argv lists, no shell strings', () => {
    const { runcmd } = userData(renderCloudInit(input()));
    expect(runcmd).toEqual([
      ['systemctl', 'daemon-reload'],
      ['systemctl', 'start', 'kctl-agent-install.service'],
    ]);
  });

  it('downloads trusting only the controller CA, then checks the sha256 before installing', () => {
    const data = userData(renderCloudInit(input()));
    const unit = fileAt(data, '/etc/systemd/system/kctl-agent-install.service')!.content;
    const steps = unit
      .replace(/ \\\n\s*/g, ' ')
      .split('\n')
      .filter((l) => l.startsWith('ExecStart='));
    expect(steps.map((s) => s.split(' ')[0])).toEqual([
      'ExecStart=/usr/bin/curl',
      'ExecStart=/usr/bin/sha256sum',
      'ExecStart=/usr/bin/install',
      'ExecStart=/bin/systemctl',
    ]);
    expect(steps[0]).toContain('--cacert /etc/kctl/controller-ca.pem --capath /run/kctl-agent-install');
    expect(steps[0]).toContain('--proto =https');
    expect(unit).not.toContain('--insecure');
    expect(fileAt(data, '/etc/kctl/kctl-agent.sha256')!.content).toBe(
      `${SHA}  /var/lib/kctl-agent-install/kctl-agent-linux-x64\n`,
    );
    expect(fileAt(data, '/etc/kctl/controller-ca.pem')!.content).toBe(CA_PEM);
  });

  it.each<[string, Partial<CloudInitInput>, string]>([
    ['an http controller', { controllerUrl: 'http://198.18.0.1:7443' }, 'invalid_args'],
    ['a URL with a percent sign (systemd specifier)', { controllerUrl: 'https://h/%n' }, 'invalid_args'],
    [
      'an artifact URL with a dollar sign',
      { agentArtifact: { url: 'https://h/$HOME', sha256: SHA } },
      'invalid_args',
    ],
    [
      'an uppercase sha256',
      { agentArtifact: { url: 'https://h/a', sha256: 'C'.repeat(64) } },
      'invalid_args',
    ],
    ['a malformed token', { token: 'short' }, 'invalid_args'],
    ['a pin of another CA', { caPin: `sha256:${'0'.repeat(64)}` }, 'ca_pin_mismatch'],
    ['a certificate that is not one', { caCertPem: '-----BEGIN CERTIFICATE-----\nAAAA\n' }, 'invalid_args'],
    ['a role label that contradicts the role', { labels: { role: 'control-plane' } }, 'invalid_args'],
    ['an unknown role', { role: 'database' as 'worker' }, 'invalid_args'],
  ])('refuses %s', (_name, over, code) => {
    expect(() => renderCloudInit(input(over))).toThrow(KctlError);
    try {
      renderCloudInit(input(over));
    } catch (err) {
      expect((err as KctlError).code).toBe(code);
    }
  });
});
