import type { AgentOp } from './registry.js';

/**
 * `service.restart`: daemon-reload (a package may have replaced the unit file or its drop-ins), then
 * restart. A unit systemd does not know (not installed) is reported, not an error.
 */
export const serviceRestartOp: AgentOp<'service.restart'> = {
  name: 'service.restart',
  async run({ unit }, { host, log }) {
    await host.run('systemctl', ['daemon-reload'], { timeoutMs: 120_000 });
    const load = await host.run('systemctl', ['show', '--property=LoadState', '--value', '--', unit], {
      allowFailure: true,
      timeoutMs: 30_000,
    });
    if (load.stdout.trim() === 'not-found') {
      log.info({ unit }, 'unit not installed; restart skipped');
      return { restarted: false };
    }
    await host.run('systemctl', ['restart', '--', unit], { timeoutMs: 300_000 });
    log.info({ unit }, 'unit restarted');
    return { restarted: true };
  },
};
