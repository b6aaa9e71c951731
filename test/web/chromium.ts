import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { X509Certificate, createHash } from 'node:crypto';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { REPO, cleanup, tempDir } from '../integration/harness.js';

/** The Debian chromium package; CI installs it with `apt-get install -y chromium`. */
export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
export const ARTIFACTS = join(REPO, 'test-artifacts');

/** Printed once by each browser test file that cannot run here. */
export function reportMissingChromium(file: string): void {
  if (!hasChromium) {
    process.stderr.write(
      `SKIPPED ${file}: ${CHROMIUM} is absent; install it with "apt-get install -y chromium" to run the fleet page in a real browser\n`,
    );
  }
}

/** base64 SHA-256 of a certificate's SubjectPublicKeyInfo, the form Chromium's SPKI list takes. */
export function spkiHash(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Headless Chromium with a fresh profile. It trusts exactly the controller's serving key
 * (--ignore-certificate-errors-spki-list), not every certificate: the page runs as a secure
 * origin, so Secure cookies and the wss: live channel behave as they would for an operator.
 */
export async function launchChromium(serverCertPem: string): Promise<Browser> {
  const profile = await tempDir('chromium');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1440, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--ignore-certificate-errors-spki-list=${spkiHash(serverCertPem)}`,
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      await cleanup([profile]);
    },
  };
}

export async function artifactPath(name: string): Promise<string> {
  await mkdir(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}
