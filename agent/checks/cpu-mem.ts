import { readCpuCount, parseMemTotalBytes } from '../probes/system.js';
import type { Check, CheckOutcome } from './check.js';
import { CONTROL_PLANE_PHASES, fail, pass } from './check.js';

/** kubeadm constants ControlPlaneNumCPU and ControlPlaneMem (MB). */
export const CONTROL_PLANE_MIN_CPUS = 2;
export const CONTROL_PLANE_MIN_MEM_MB = 1700;

export function judgeCpus(cpus: number): CheckOutcome {
  const expected = `at least ${CONTROL_PLANE_MIN_CPUS} CPUs`;
  return cpus >= CONTROL_PLANE_MIN_CPUS
    ? pass(`${cpus} CPUs`, expected)
    : fail(`${cpus} CPUs`, expected, `give this control-plane host at least ${CONTROL_PLANE_MIN_CPUS} CPUs`);
}

export function judgeMemory(memTotalBytes: number): CheckOutcome {
  const mb = Math.floor(memTotalBytes / 1024 / 1024);
  const expected = `at least ${CONTROL_PLANE_MIN_MEM_MB} MB`;
  return mb >= CONTROL_PLANE_MIN_MEM_MB
    ? pass(`${mb} MB`, expected)
    : fail(
        `${mb} MB`,
        expected,
        `give this control-plane host at least ${CONTROL_PLANE_MIN_MEM_MB} MB of memory`,
      );
}

export const cpuMemChecks = (): Check[] => [
  {
    id: 'NumCPU',
    title: 'enough CPUs for a control plane',
    severity: 'error',
    appliesTo: { phases: CONTROL_PLANE_PHASES },
    run: async ({ host }) => judgeCpus(await readCpuCount(host)),
  },
  {
    id: 'Mem',
    title: 'enough memory for a control plane',
    severity: 'error',
    appliesTo: { phases: CONTROL_PLANE_PHASES },
    run: async ({ host }) => judgeMemory(parseMemTotalBytes((await host.readFile('/proc/meminfo')) ?? '')),
  },
];
