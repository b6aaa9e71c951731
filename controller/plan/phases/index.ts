import { PHASE_IDS, type Operation, type PhaseId } from '../../../proto/phases.js';
import type { AnyPhaseRecord } from '../phase.js';
import {
  cniPhase,
  controlPlanesPhase,
  initPhase,
  joinMaterialPhase,
  preflightPhase,
  preparePhase,
  verifyPhase,
  workersPhase,
} from './day1.js';
import { upgradeControlPlanesPhase, upgradeFirstPhase, upgradeWorkersPhase } from './upgrade.js';
import { removeNodePhase, resetPhase } from './lifecycle.js';
import { renewCertsPhase } from './certs.js';
import { etcdMembersPhase, etcdPhase } from './etcd.js';
import { etcdRemoveMemberPhase } from './etcd-remove.js';
import { apiserverEtcdAfterRemovalPhase, apiserverEtcdEndpointsPhase } from './apiserver-etcd.js';
import { nodeLabelsPhase } from './node-labels.js';
import { loadBalancerChecksPhase, loadBalancersPhase } from './load-balancers.js';

/** Every phase record by id: a phase id without a record does not compile. */
const RECORDS: Record<PhaseId, AnyPhaseRecord> = {
  preflight: preflightPhase,
  'load-balancer-checks': loadBalancerChecksPhase,
  'load-balancers': loadBalancersPhase,
  prepare: preparePhase,
  etcd: etcdPhase,
  'etcd-members': etcdMembersPhase,
  'apiserver-etcd-endpoints': apiserverEtcdEndpointsPhase,
  'upgrade-first': upgradeFirstPhase,
  'upgrade-control-planes': upgradeControlPlanesPhase,
  'upgrade-workers': upgradeWorkersPhase,
  init: initPhase,
  'join-material': joinMaterialPhase,
  'control-planes': controlPlanesPhase,
  workers: workersPhase,
  cni: cniPhase,
  'node-labels': nodeLabelsPhase,
  verify: verifyPhase,
  'remove-node': removeNodePhase,
  'etcd-remove-member': etcdRemoveMemberPhase,
  'apiserver-etcd-after-removal': apiserverEtcdAfterRemovalPhase,
  reset: resetPhase,
  'renew-certs': renewCertsPhase,
};

/** The phases in the order plans run them (proto/phases.ts). */
export const PHASES: readonly AnyPhaseRecord[] = PHASE_IDS.map((id) => RECORDS[id]);

export function phaseRecord(id: PhaseId): AnyPhaseRecord {
  return RECORDS[id];
}

export function phasesOf(operation: Operation): readonly AnyPhaseRecord[] {
  return PHASES.filter((p) => p.operation === operation);
}

/** `kctl plan --help` and `kctl apply --help`: one line per phase of an apply, from the records. */
export function phaseHelp(operation: Operation = 'apply'): string {
  const phases = phasesOf(operation);
  const width = Math.max(...phases.map((p) => p.id.length));
  return phases.map((p) => `  ${p.id.padEnd(width)}  ${p.summary}`).join('\n');
}
