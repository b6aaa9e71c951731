import { readTrimmed } from '../probes/system.js';
import type { Check, CheckOutcome } from './check.js';
import { fail, pass } from './check.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MACHINE_ID = /^[0-9a-f]{32}$/;

export function judgeProductUuid(value: string): CheckOutcome {
  const expected = '/sys/class/dmi/id/product_uuid holds a UUID';
  if (UUID.test(value)) return pass(value.toLowerCase(), expected);
  return fail(
    value === '' ? 'no product_uuid (no DMI, or not readable)' : `product_uuid "${value}" is not a UUID`,
    expected,
    'Kubernetes uses product_uuid to tell nodes apart: give the VM a unique SMBIOS UUID; fleet checks compare machine-id meanwhile',
  );
}

export function judgeMachineId(value: string): CheckOutcome {
  const expected = '/etc/machine-id holds 32 hex digits';
  if (MACHINE_ID.test(value)) return pass(value, expected);
  return fail(
    value === '' ? '/etc/machine-id is missing or empty' : `/etc/machine-id is "${value}"`,
    expected,
    'run systemd-machine-id-setup (an image cloned with a fixed machine-id needs a fresh one: empty the file and reboot)',
  );
}

export const identityChecks = (): Check[] => [
  {
    id: 'ProductUUID',
    title: 'product_uuid present',
    severity: 'warning',
    appliesTo: {},
    run: async ({ host }) => judgeProductUuid(await readTrimmed(host, '/sys/class/dmi/id/product_uuid')),
  },
  {
    id: 'MachineID',
    title: 'machine-id present',
    severity: 'error',
    appliesTo: {},
    run: async ({ host }) => judgeMachineId(await readTrimmed(host, '/etc/machine-id')),
  },
];
