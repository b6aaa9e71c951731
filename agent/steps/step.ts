import type { Change } from '../../proto/results.js';
import type { Host } from '../host/host.js';

/**
 * A unit of convergence with one body for plan and apply: `diff` says what differs, `apply` does
 * exactly the changes it is given. After apply, diff must be empty or the step failed.
 */
export interface Step {
  id: string;
  title: string;
  dependsOn: string[];
  diff(host: Host): Promise<Change[]>;
  apply(host: Host, changes: Change[]): Promise<void>;
}
