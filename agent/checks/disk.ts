import type { Check, CheckOutcome } from './check.js';
import { fail, pass } from './check.js';

/** Where images, etcd and the kubelet live. */
export const DISK_PATH = '/var/lib';
const GiB = 1024 ** 3;
/** below this an install fails outright (images alone are ~1 GiB); below the soft limit the kubelet soon evicts */
export const MIN_FREE_BYTES = 2 * GiB;
export const WARN_FREE_BYTES = 10 * GiB;

export function judgeFreeDisk(path: string, freeBytes: number | undefined): CheckOutcome {
  const expected = `at least ${WARN_FREE_BYTES / GiB} GiB free under ${path}`;
  if (freeBytes === undefined)
    return { status: 'skip', observed: `free space under ${path} unknown`, expected };
  const observed = `${(freeBytes / GiB).toFixed(1)} GiB free under ${path}`;
  const remedy = `free or add space on the filesystem holding ${path} (images, etcd and pod data go there)`;
  if (freeBytes < MIN_FREE_BYTES)
    return fail(observed, `at least ${MIN_FREE_BYTES / GiB} GiB free under ${path}`, remedy);
  if (freeBytes < WARN_FREE_BYTES) return { status: 'warn', observed, expected, remedy };
  return pass(observed, expected);
}

export const diskChecks = (): Check[] => [
  {
    id: 'DiskSpace--var-lib',
    title: `free disk space under ${DISK_PATH}`,
    severity: 'error',
    appliesTo: {},
    run: async ({ freeBytes }) => judgeFreeDisk(DISK_PATH, await freeBytes(DISK_PATH)),
  },
];
