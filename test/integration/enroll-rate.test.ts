import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { PROTOCOL_VERSION } from '../../proto/version.js';
import { cleanup, postJson, startControllerProcess, type ControllerHandle } from './harness.js';

/** S12: enrollment attempts from one address are rate limited, with a retryable error. */
describe('enrollment rate limit', () => {
  let controller: ControllerHandle;
  let caPem: string;
  beforeAll(async () => {
    controller = await startControllerProcess();
    caPem = await readFile(`${controller.dataDir}/ca.crt`, 'utf8');
  }, 30_000);
  afterAll(async () => {
    await controller.proc.stop();
    await cleanup([controller.dataDir]);
  });

  const attempt = async (): Promise<{ status: number; code: string }> => {
    const { status, text } = await postJson(`${controller.url}/v1/enroll`, caPem, {
      token: 'aaaaaa.bbbbbbbbbbbbbbbb',
      csrPem: 'x',
      facts: {
        hostname: 'h',
        machineId: 'm',
        productUuid: 'p',
        macs: [],
        ips: [],
        os: { id: 'd', versionId: '1', prettyName: 'D' },
        kernel: 'k',
        arch: 'a',
        cpus: 1,
        memoryBytes: 1,
        cgroupVersion: 2,
      },
      labels: {},
      protocolVersion: PROTOCOL_VERSION,
    });
    return { status, code: (JSON.parse(text) as { error: { code: string } }).error.code };
  };

  it('refuses the 21st attempt within a minute with 429 enroll_rate_limited, and counts it', async () => {
    const results: Array<{ status: number; code: string }> = [];
    for (let i = 0; i < 22; i++) results.push(await attempt());
    expect(results.slice(0, 20).every((r) => r.code === 'token_invalid' && r.status === 401)).toBe(true);
    expect(results.slice(20)).toEqual([
      { status: 429, code: 'enroll_rate_limited' },
      { status: 429, code: 'enroll_rate_limited' },
    ]);
    expect(await controller.api.text('/metrics')).toMatch(
      /kctl_enrollments_total\{result="enroll_rate_limited"\} 2/,
    );
  });
});
