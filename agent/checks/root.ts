import type { Check, CheckOutcome } from './check.js';
import { fail, pass } from './check.js';

export function judgeRoot(uid: number): CheckOutcome {
  return uid === 0
    ? pass('uid 0', 'uid 0 (root)')
    : fail(`uid ${uid}`, 'uid 0 (root)', 'run the kctl agent as root (its systemd unit does)');
}

export const rootChecks = (): Check[] => [
  {
    id: 'IsPrivilegedUser',
    title: 'agent runs as root',
    severity: 'error',
    appliesTo: {},
    run: ({ host }) => Promise.resolve(judgeRoot(host.uid())),
  },
];
