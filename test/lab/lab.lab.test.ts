import { readFile, stat } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostLeaderPid, labExec } from '../../lab/exec.js';
import { labUp, type LabUpResult } from '../../lab/hosts.js';
import { isolationProblems, readIsolationFacts, LAB_BRIDGE } from '../../lab/network.js';
import { labDown, labLeftovers } from '../../lab/teardown.js';
import { kctl, labSkipReason } from './lab-env.js';

const reason = await labSkipReason();
if (reason !== undefined) console.warn(`fleet lab tests skipped: ${reason}`);

const DIR = '/var/tmp/kctl-lab-test';
const N = 3;

describe.skipIf(reason !== undefined)(
  `fleet lab of ${N} booted hosts${reason ? ` (skipped: ${reason})` : ''}`,
  () => {
    let up: LabUpResult;
    const exec = (name: string, argv: string[]) => labExec(name, argv, { dir: DIR });

    beforeAll(async () => {
      await labDown({ dir: DIR });
      up = await labUp({ n: N, dir: DIR, installMissing: true, log: (m) => console.log(m) });
      console.log('lab up timings', up.timings);
    });
    afterAll(async () => {
      await labDown({ dir: DIR });
    });

    it('every host runs systemd with no failed unit and cloud-init is done', async () => {
      for (const h of up.state.hosts) {
        expect((await exec(h.name, ['systemctl', 'is-system-running'])).stdout.trim()).toBe('running');
        expect((await exec(h.name, ['cloud-init', 'status'])).stdout).toMatch(/^status: done$/m);
      }
    });

    it('hosts have the hostnames and machine-ids the lab recorded, all different', async () => {
      const seen = { names: new Set<string>(), ids: new Set<string>() };
      for (const [i, h] of up.state.hosts.entries()) {
        expect(h.name).toBe(`lab-${i + 1}`);
        const hostname = (await exec(h.name, ['hostname'])).stdout.trim();
        const machineId = (await exec(h.name, ['cat', '/etc/machine-id'])).stdout.trim();
        expect(hostname).toBe(h.name);
        expect(machineId).toBe(h.machineId);
        seen.names.add(hostname);
        seen.ids.add(machineId);
      }
      expect(seen.names.size).toBe(N);
      expect(seen.ids.size).toBe(N);
    });

    it('each host has its own address on eth0, from the seed', async () => {
      for (const h of up.state.hosts) {
        const { stdout } = await exec(h.name, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
        expect(stdout).toContain(`inet ${h.address}/24`);
      }
    });

    it('hosts reach the bridge and each other', async () => {
      const [a, b] = up.state.hosts;
      if (!a || !b) throw new Error('need two hosts');
      expect((await exec(a.name, ['ping', '-c1', '-W2', '198.18.0.1'])).exitCode).toBe(0);
      expect((await exec(a.name, ['ping', '-c1', '-W2', b.address])).exitCode).toBe(0);
    });

    it('hosts have no route off the lab subnet (asked of the routing table, nothing is sent)', async () => {
      for (const h of up.state.hosts) {
        expect((await exec(h.name, ['ip', 'route', 'show', 'default'])).stdout.trim()).toBe('');
        const probe = await exec(h.name, ['ip', 'route', 'get', '192.0.2.1']);
        expect(probe.exitCode).not.toBe(0);
        expect(probe.stderr).toMatch(/unreachable/i);
      }
    });

    it('the bridge does not forward and no NAT rule names the lab', async () => {
      const facts = await readIsolationFacts();
      expect(facts.bridgeForwarding).toBe('0');
      expect(isolationProblems(facts)).toEqual([]);
    });

    it('each host runs in its own cgroup, so their systemds do not share units', async () => {
      for (const h of up.state.hosts) {
        const leader = await hostLeaderPid(h);
        expect(leader).toBeDefined();
        const cgroups = await readFile(`/proc/${leader}/cgroup`, 'utf8');
        // the v2 line (hierarchy 0) of the host's init
        expect(cgroups).toMatch(new RegExp(`^0::/kctl-lab/${h.name}/payload/init\\.scope$`, 'm'));
      }
    });

    it('lab status in a new process shows every host running', async () => {
      const r = await kctl(['lab', 'status', '--dir', DIR]);
      expect(r.exitCode).toBe(0);
      for (const h of up.state.hosts)
        expect(r.stdout).toMatch(new RegExp(`^${h.name}\\s+${h.address}\\s+running`, 'm'));
    });

    it('a second lab up is refused while this one is up', async () => {
      await expect(labUp({ n: 1, dir: `${DIR}-other` })).rejects.toThrow(/already up/);
    });

    it('lab down in a new process leaves nothing behind, and a second down has nothing to do', async () => {
      const r = await kctl(['lab', 'down', '--dir', DIR]);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toContain(`removed bridge ${LAB_BRIDGE}`);
      expect(await labLeftovers({ dir: DIR })).toEqual([]);
      await expect(stat(DIR)).rejects.toThrow(/ENOENT/);
      expect((await labDown({ dir: DIR })).removed).toEqual([]);
    });
  },
);
