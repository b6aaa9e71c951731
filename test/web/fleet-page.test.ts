import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:https';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { runFleetPreflight } from '../../controller/preflight-service.js';
import { LIVE_PROTOCOL, LIVE_TOKEN_PREFIX, type SessionInfo } from '../../controller/web/fleet-api.js';
import { recordHealth } from '../../controller/web/health-results.js';
import {
  cleanup,
  makeHostRoot,
  startAgentProcess,
  waitFor,
  type AgentHandle,
} from '../integration/harness.js';
import {
  artifactPath,
  hasChromium,
  launchChromium,
  reportMissingChromium,
  type Browser,
} from './chromium.js';
import { startWebFixture, webToken, type WebFixture } from './web-fixture.js';

reportMissingChromium('test/web/fleet-page.test.ts');

const HEARTBEAT_MS = 500;
/** the controller closes a connection silent for 3 heartbeat intervals */
const GRACE_MS = 3 * HEARTBEAT_MS;
/** node-a re-reads its facts this often (issue 13: facts stay current) */
const FACTS_REFRESH_MS = 500;
const dpkgStatus = (version: string): string =>
  `Package: kubelet\nStatus: install ok installed\nVersion: ${version}\n\n` +
  `Package: kubeadm\nStatus: install ok installed\nVersion: ${version}\n`;

/**
 * Issue 6's "done when", in a real headless Chromium: a controller with three real agent
 * processes on loopback; the page shows every host and reflects an agent stop within the
 * heartbeat grace period without a reload.
 */
describe.skipIf(!hasChromium)('the fleet page in Chromium, with three live agents', () => {
  let f: WebFixture;
  let browser: Browser;
  let page: Page;
  const agents = new Map<string, AgentHandle>();
  const origin = (): string => `https://127.0.0.1:${f.web.port}`;

  const statusOf = (name: string): Promise<string | null> =>
    page.locator(`.body .row[data-host="${name}"]`).getAttribute('data-status', { timeout: 2000 });
  const waitForStatus = async (name: string, status: string, timeoutMs: number): Promise<number> => {
    const started = Date.now();
    await page.waitForFunction(
      ([n, s]) => document.querySelector(`.body .row[data-host="${n}"]`)?.getAttribute('data-status') === s,
      [name, status] as const,
      { timeout: timeoutMs, polling: 25 },
    );
    return Date.now() - started;
  };

  beforeAll(async () => {
    f = await startWebFixture({ heartbeatIntervalMs: HEARTBEAT_MS });
    const cp = f.bootstrapToken(1, { role: 'control-plane' });
    const workers = f.bootstrapToken(2, { role: 'worker' });
    for (const [name, token] of [
      ['node-a', cp],
      ['node-b', workers],
      ['node-c', workers],
    ] as const) {
      agents.set(
        name,
        await startAgentProcess({
          name,
          controller: f.agentTarget,
          token,
          heartbeatIntervalMs: HEARTBEAT_MS,
          // node-a has kube packages installed, and re-reads its facts quickly
          ...(name === 'node-a'
            ? {
                hostRoot: await makeHostRoot(name, { '/var/lib/dpkg/status': dpkgStatus('1.32.4-1.1') }),
                extra: { factsRefreshMs: FACTS_REFRESH_MS },
              }
            : {}),
        }),
      );
    }
    await waitFor(
      'three agents online',
      () => Promise.resolve(f.controller.registry.onlineCount() === 3),
      30_000,
    );
    // a real preflight through the agents, recorded for the page by the preflight service
    await runFleetPreflight(
      { store: f.controller.store, registry: f.controller.registry },
      { timeoutMs: 20_000 },
    );
    // an apply that converged node-a and node-b, as the engine journals it
    const applies = f.controller.store.applies;
    const plan = {
      phases: [
        {
          id: 'prepare',
          title: 'Prepare hosts',
          tasks: ['node-a', 'node-b'].map((h) => ({ id: `prepare/${h}`, title: `Prepare ${h}`, host: h })),
        },
      ],
    };
    const t0 = Date.now() - 60_000;
    await applies.createApply({ id: 'apply-1', cluster: 'lab', planHash: 'sha256:x', plan, now: t0 });
    for (const h of ['node-a', 'node-b']) {
      await applies.stepStarted({
        applyId: 'apply-1',
        taskId: `prepare/${h}`,
        phase: 'prepare',
        host: h,
        now: t0 + 1,
      });
      await applies.stepFinished({ applyId: 'apply-1', taskId: `prepare/${h}`, status: 'done', now: t0 + 2 });
    }
    await applies.finishApply('apply-1', 'succeeded', t0 + 3);
    // a health run that found drift on node-b
    await recordHealth(f.controller.store, [
      {
        host: 'node-b',
        worst: 'warning',
        results: [
          {
            id: 'Drift-sysctl',
            title: 'sysctl',
            severity: 'warning',
            observed: 'net.ipv4.ip_forward 0',
            remedy: 'kctl apply',
          },
          { id: 'Swap', title: 'swap off', severity: 'ok', observed: 'no swap', remedy: '' },
          {
            id: 'CertExpiry-/etc/kubernetes/pki/apiserver.crt',
            title: 'certificate /etc/kubernetes/pki/apiserver.crt valid',
            severity: 'ok',
            observed: 'expires in 200 days',
            remedy: '',
            notAfter: new Date(Date.now() + 200.5 * 86_400_000).toISOString(),
          },
          {
            id: 'CertExpiry-/var/lib/kubelet/pki/kubelet-client-current.pem',
            title: 'certificate valid',
            severity: 'ok',
            observed: 'expires in 300 days',
            remedy: '',
            notAfter: new Date(Date.now() + 300.5 * 86_400_000).toISOString(),
          },
        ],
      },
    ]);
    browser = await launchChromium(f.serverCertPem);
    page = await browser.context.newPage();
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await Promise.all([...agents.values()].map((a) => a.proc.stop()));
    await f?.close();
    await cleanup([...agents.values()].flatMap((a) => [a.stateDir, a.hostRoot]));
  });

  it('sends a browser without a session to the login page, and the API answers it 401', async () => {
    await page.goto(`${origin()}/`);
    expect(new URL(page.url()).pathname).toBe('/login');
    const status = await page.evaluate(async () => (await fetch('/api/fleet')).status);
    expect(status).toBe(401);
  });

  it('draws the login card around its form (it collapsed to an empty box)', async () => {
    const box = await page.locator('.login-box').boundingBox();
    const form = await page.locator('.login-box form:not(.cert)').boundingBox();
    const hint = await page.locator('.login-box .hint').boundingBox();
    expect(box && form && hint).toBeTruthy();
    if (!box || !form || !hint) return;
    expect(box.height).toBeGreaterThan(150);
    expect(form.y).toBeGreaterThanOrEqual(box.y);
    expect(hint.y + hint.height).toBeLessThanOrEqual(box.y + box.height + 0.5);
    await page.screenshot({ path: await artifactPath('fleet-login.png') });
  });

  it('refuses a wrong token on the login form', async () => {
    await page.fill('#token', 'abcdefgh.' + 'x'.repeat(32));
    await page.click('form:not(.cert) button[type=submit]');
    await expect.poll(() => page.textContent('[role=alert]')).toContain('Login failed');
  });

  it('logs in with a web token and shows every host with its facts', async () => {
    await page.goto(`${origin()}/login`);
    await page.fill('#token', await webToken(f, true));
    await page.click('form:not(.cert) button[type=submit]');
    await page.waitForURL(`${origin()}/`);
    await page.waitForSelector('.body .row[data-host="node-c"]', { timeout: 10_000 });
    expect(await page.textContent('#who')).toMatch(/^web-token:[a-z0-9]{8} \(read-only\)$/);
    await expect.poll(() => page.getAttribute('#live', 'data-state')).toBe('live');
    for (const name of ['node-a', 'node-b', 'node-c']) {
      const row = page.locator(`.body .row[data-host="${name}"]`);
      const cell = (col: string): Promise<string | null> => row.locator(`[data-col="${col}"]`).textContent();
      expect(await row.getAttribute('data-status')).toBe('online');
      expect(await cell('roles')).toBe(name === 'node-a' ? 'control-plane' : 'worker');
      expect(await cell('ip')).toBe('127.0.0.1');
      expect(await cell('os')).toBe('Debian GNU/Linux 12 (bookworm)');
      expect(await cell('kernel')).toBe('6.1.0-27-amd64');
      expect(await cell('agent')).toMatch(/^\d+\.\d+\.\d+/);
      // install preflight is no fleet-wide column any more: it is in the host's details
      expect(await row.locator('[data-col="preflight"]').count()).toBe(0);
      expect(await cell('detail')).toBe('details');
      // issue 13: the Kube and Apply columns are filled for a host that has them
      expect(await cell('kube')).toBe(name === 'node-a' ? 'v1.32.4' : '-');
      expect(await cell('apply')).toBe(name === 'node-c' ? '-' : 'done · prepare · Prepare ' + name);
      expect(await cell('health')).toBe(name === 'node-b' ? '1 warning' : '-');
      // issue 13: drift and the soonest certificate expiry of the last health run, per host
      expect(await cell('drift')).toBe(name === 'node-b' ? '1 · sysctl: net.ipv4.ip_forward 0' : '-');
      expect(await cell('certs')).toBe(name === 'node-b' ? 'in 200 d · apiserver.crt' : '-');
    }
    expect(await page.textContent('.card-online .value')).toBe('3');
    expect(await page.textContent('.card-warn .value')).toBe('1');
    expect(await page.textContent('#count')).toBe('3 of 3 hosts');
  });

  it('shows a kube version changed on the host within one facts refresh, without a reload', async () => {
    await page.evaluate(() => (document.body.dataset.marker = 'before-upgrade'));
    const agent = agents.get('node-a')!;
    await writeFile(join(agent.hostRoot, 'var/lib/dpkg/status'), dpkgStatus('1.33.1-1.1'));
    const changed = Date.now();
    await page.waitForFunction(
      () =>
        document.querySelector('.body .row[data-host="node-a"] [data-col="kube"]')?.textContent === 'v1.33.1',
      undefined,
      { timeout: 10_000, polling: 50 },
    );
    // the agent's period with +20 % jitter, the controller's 1 s batch, the page's coalescing; slack for a loaded machine
    expect(Date.now() - changed).toBeLessThan(FACTS_REFRESH_MS * 1.2 + 1000 + 3000);
    expect(await page.evaluate(() => document.body.dataset.marker)).toBe('before-upgrade');
  });

  it("opens a host's details with its facts, health, apply and install preflight", async () => {
    await page.click('.body .row[data-host="node-a"] button.detail-button');
    const dialog = page.locator('dialog#detail');
    await expect.poll(() => dialog.isVisible()).toBe(true);
    expect(await dialog.locator('h2').textContent()).toBe('node-a');
    expect(await dialog.locator('[data-fact="packages"]').textContent()).toContain('kubelet 1.33.1-1.1');
    expect(await dialog.locator('[data-fact="apply"]').textContent()).toMatch(
      /^done · prepare · Prepare node-a, /,
    );
    expect(await dialog.locator('h3').textContent()).toBe('Install preflight');
    expect(await dialog.locator('tr').count()).toBeGreaterThan(5);
    expect(await dialog.textContent()).toContain('control-plane');
    // the remedy column stays inside the dialog: no cell runs past the dialog's right edge
    const clipped = await dialog.evaluate((d) => {
      const right = d.getBoundingClientRect().right;
      return Array.from(d.querySelectorAll('td:last-child')).filter(
        (td) => td.getBoundingClientRect().right > right + 0.5 || td.scrollWidth > td.clientWidth + 1,
      ).length;
    });
    expect(clipped).toBe(0);
    expect(await dialog.evaluate((d) => d.scrollWidth <= d.clientWidth + 1)).toBe(true);
    await page.screenshot({ path: await artifactPath('fleet-page-preflight.png') });
    await dialog.locator('button.close').click();
  });

  it('saves a screenshot of the page', async () => {
    const path = await artifactPath('fleet-page.png');
    await page.screenshot({ path, fullPage: false });
  });

  it('shows a stopped agent offline within the heartbeat grace period, without a reload', async () => {
    await page.evaluate(() => (document.body.dataset.marker = 'same-document'));
    const agent = agents.get('node-c')!;
    const stopped = Date.now();
    await agent.proc.stop('SIGTERM');
    await waitForStatus('node-c', 'offline', GRACE_MS);
    const elapsed = Date.now() - stopped;
    expect(elapsed).toBeLessThan(GRACE_MS);
    expect(await page.evaluate(() => document.body.dataset.marker)).toBe('same-document');
    expect(await page.textContent('.card-offline .value')).toBe('1');
    agent.start();
    await waitForStatus('node-c', 'online', 15_000);
  });

  it('shows a frozen agent offline once it has been silent for the grace period', async () => {
    const agent = agents.get('node-b')!;
    const pid = agent.proc.proc.pid!;
    process.kill(pid, 'SIGSTOP');
    const frozen = Date.now();
    try {
      // the controller checks silence once per interval; the page hears within one coalescing period
      await waitForStatus('node-b', 'offline', GRACE_MS + HEARTBEAT_MS + 1500);
      expect(Date.now() - frozen).toBeGreaterThanOrEqual(GRACE_MS - 100);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitForStatus('node-b', 'online', 15_000);
  });

  it('reconnects the live channel on its own when the web listener restarts', async () => {
    await page.evaluate(() => (document.body.dataset.marker = 'before-restart'));
    await f.restartWeb();
    await expect.poll(() => page.getAttribute('#live', 'data-state'), { timeout: 10_000 }).toBe('live');
    // and it is live: a change after the restart reaches the page
    await agents.get('node-a')!.proc.stop('SIGTERM');
    await waitForStatus('node-a', 'offline', GRACE_MS);
    expect(await page.evaluate(() => document.body.dataset.marker)).toBe('before-restart');
    agents.get('node-a')!.start();
    await waitForStatus('node-a', 'online', 15_000);
    expect(await statusOf('node-a')).toBe('online');
  });

  it('refuses the live channel to a page of another origin, even with the session cookie and token', async () => {
    const session = JSON.parse(
      await page.evaluate(async () => (await fetch('/api/session')).text()),
    ) as SessionInfo;
    // same host, another port: same-site, so the SameSite=Strict cookie is sent; only Origin stops it
    const evil: Server = createServer(
      { cert: f.serverCertPem, key: await readFile(join(f.dataDir, 'server.key'), 'utf8') },
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<!doctype html><title>elsewhere</title>');
      },
    );
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', () => resolve()));
    const port = (evil.address() as { port: number }).port;
    try {
      const tryLive = (from: Page): Promise<string> =>
        from.evaluate(
          ([url, protocols]) =>
            new Promise<string>((resolve) => {
              const ws = new WebSocket(url, [...protocols]);
              ws.onopen = () => {
                ws.close();
                resolve('open');
              };
              ws.onclose = () => resolve('closed');
            }),
          [
            `wss://127.0.0.1:${f.web.port}/live`,
            [LIVE_PROTOCOL, LIVE_TOKEN_PREFIX + session.csrfToken],
          ] as const,
        );
      // the same handshake from the page's own origin opens
      expect(await tryLive(page)).toBe('open');
      const other = await browser.context.newPage();
      await other.goto(`https://127.0.0.1:${port}/`);
      expect(await tryLive(other)).toBe('closed');
      await other.close();
    } finally {
      evil.closeAllConnections();
      await new Promise<void>((resolve) => evil.close(() => resolve()));
    }
  });
});
