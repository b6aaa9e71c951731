import type { HostSpec } from '../../proto/host-spec.js';
import type { Step } from './step.js';
import { swapOffStep } from './swap-off.js';
import { kernelModulesStep } from './kernel-modules.js';
import { sysctlStep } from './sysctl.js';
import { etcHostsStep } from './etc-hosts.js';
import { fileStep } from './file.js';

/** The steps that converge a host to its spec, in a stable order. */
export function stepsForHostSpec(spec: HostSpec): Step[] {
  const steps: Step[] = [];
  if (spec.swap === 'off') steps.push(swapOffStep());
  steps.push(kernelModulesStep(spec.modules));
  if (Object.keys(spec.sysctls).length > 0) steps.push(sysctlStep(spec.sysctls));
  if (spec.controlPlaneEndpoint) steps.push(etcHostsStep([spec.controlPlaneEndpoint]));
  for (const f of spec.files) steps.push(fileStep(f));
  return steps;
}
