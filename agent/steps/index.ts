import type { HostSpec } from '../../proto/host-spec.js';
import type { Step } from './step.js';
import { swapOffStep } from './swap-off.js';
import { kernelModulesStep } from './kernel-modules.js';
import { sysctlStep } from './sysctl.js';
import { etcHostsStep } from './etc-hosts.js';
import { fileStep } from './file.js';
import { packagesStep } from './packages.js';

/** The steps that converge a host to its spec, in a stable order. */
export function stepsForHostSpec(spec: HostSpec): Step[] {
  const steps: Step[] = [];
  if (spec.swap === 'off') steps.push(swapOffStep());
  steps.push(kernelModulesStep(spec.modules));
  if (Object.keys(spec.sysctls).length > 0) steps.push(sysctlStep(spec.sysctls));
  if (spec.controlPlaneEndpoint) steps.push(etcHostsStep([spec.controlPlaneEndpoint]));
  // files (repo sources, containerd config) before packages: postinst scripts see the final config
  for (const f of spec.files) steps.push(fileStep(f));
  if (spec.packages.length > 0 || spec.services.length > 0) {
    steps.push(
      packagesStep(
        spec.packages,
        spec.services,
        spec.files.map((f) => `file:${f.path}`),
      ),
    );
  }
  return steps;
}
