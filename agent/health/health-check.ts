import type { Host } from '../host/host.js';
import type { BundleSource } from '../steps/bundle-fetch.js';
import type { HostSpec } from '../../proto/host-spec.js';
import type { HealthResult, HealthSeverity } from '../../proto/health.js';

export interface HealthInput {
  host: Host;
  /** the spec kctl converged the host to; drift is judged only when given */
  spec?: HostSpec | undefined;
  /** this host's clock minus the controller's, measured over the agent channel */
  clockOffset?: (() => { offsetMs: number; uncertaintyMs: number } | undefined) | undefined;
  bundle?: BundleSource | undefined;
  /** wall clock for certificate expiry; tests pass their own */
  now: () => number;
}

/** A health check: reads the host through the Host layer and hands what it read to a pure judge. */
export interface HealthCheck {
  id: string;
  run(input: HealthInput): Promise<HealthResult[]>;
}

export function finding(
  id: string,
  title: string,
  severity: HealthSeverity,
  observed: string,
  remedy = '',
): HealthResult {
  return { id, title, severity, observed, remedy: severity === 'ok' ? '' : remedy };
}
