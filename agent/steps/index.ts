import type { HostSpec } from '../../proto/host-spec.js';
import type { Step } from './step.js';
import { swapOffStep } from './swap-off.js';
import { kernelModulesStep } from './kernel-modules.js';
import { sysctlStep } from './sysctl.js';
import { etcHostsStep } from './etc-hosts.js';
import { fileStep } from './file.js';
import { packagesStep } from './packages.js';
import { repoKeyStep } from './repo-key.js';
import { trustStoreStep } from './trust-store.js';
import { BUNDLE_SYNC_STEP_ID, bundleSyncStep } from './bundle-sync.js';
import type { BundleSource } from './bundle-fetch.js';
import { imagesLoadStep } from './images-load.js';

/** What some steps need besides the host: the controller's offline bundle. */
export interface StepDeps {
  bundle?: BundleSource | undefined;
}

/** The steps that converge a host to its spec, in a stable order. */
export function stepsForHostSpec(spec: HostSpec, deps: StepDeps = {}): Step[] {
  const steps: Step[] = [];
  if (spec.swap === 'off') steps.push(swapOffStep());
  steps.push(kernelModulesStep(spec.modules));
  if (Object.keys(spec.sysctls).length > 0) steps.push(sysctlStep(spec.sysctls));
  if (spec.controlPlaneEndpoint) steps.push(etcHostsStep([spec.controlPlaneEndpoint]));
  // files (repo sources, containerd config) before packages: postinst scripts see the final config
  for (const f of spec.files) steps.push(fileStep(f));
  // a private registry's CA in the system bundle, before anything fetches over HTTPS from it
  if (spec.trustStore && spec.trustStore.certificates.length > 0)
    steps.push(trustStoreStep(spec.trustStore.certificates));
  // the repo's signing key next to the repo file that points at it, before apt/dnf read either
  const repoKey = spec.repoKey ? repoKeyStep(spec.repoKey) : undefined;
  if (repoKey) steps.push(repoKey);
  // the bundle's local apt repository and its keyring are in place before apt looks for packages
  const bundle = spec.packagesFrom === 'bundle';
  if (bundle) steps.push(bundleSyncStep(deps.bundle));
  if (spec.packages.length > 0 || spec.services.length > 0) {
    steps.push(
      packagesStep(spec.packages, spec.services, [
        ...spec.files.map((f) => `file:${f.path}`),
        ...(repoKey ? [repoKey.id] : []),
        ...(bundle ? [BUNDLE_SYNC_STEP_ID] : []),
      ]),
    );
  }
  // the bundle's images for this role, into containerd once it runs, before kubeadm pulls them
  if (bundle)
    steps.push(
      imagesLoadStep(spec.role, deps.bundle, [
        BUNDLE_SYNC_STEP_ID,
        ...steps.filter((s) => s.id === 'packages').map((s) => s.id),
      ]),
    );
  return steps;
}
