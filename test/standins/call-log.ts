import { appendFileSync } from 'node:fs';
import { join } from 'node:path';

/** <cluster dir>/calls.jsonl: one line per stand-in run, secrets redacted, for tests that assert order across hosts. */

export interface CallRecord {
  time: string;
  tool: string;
  /** the arguments after the program name, secrets replaced by "[redacted]" */
  argv: string[];
  /** the working directory the tool was started in */
  cwd: string;
  hostRoot: string;
  node: string | null;
  exitCode: number;
  startedAt: string;
  durationMs: number;
  /** kubeadm init/join with etcd.external: the endpoints it was given */
  etcdExternal?: { endpoints: string[] };
  /** kubeadm reset on a stacked control plane: the etcd member its remove-etcd-member phase removed */
  etcdMemberRemoved?: { name: string };
}

/** What a run adds to its own line (one stand-in run is one process). */
const notes: Pick<CallRecord, 'etcdExternal' | 'etcdMemberRemoved'> = {};

export function noteEtcdExternal(endpoints: readonly string[]): void {
  notes.etcdExternal = { endpoints: [...endpoints] };
}

export function noteEtcdMemberRemoved(name: string): void {
  notes.etcdMemberRemoved = { name };
}

export function callNotes(): Pick<CallRecord, 'etcdExternal' | 'etcdMemberRemoved'> {
  return { ...notes };
}

/** One JSON line per run, appended in one write (O_APPEND keeps lines whole across processes). */
export function appendCall(dir: string, record: CallRecord): void {
  appendFileSync(join(dir, 'calls.jsonl'), `${JSON.stringify(record)}\n`);
}

const SECRET_FLAGS = new Set(['--token', '--discovery-token', '--tls-bootstrap-token', '--certificate-key']);

/** Replaces bootstrap tokens and certificate keys in an argument list (values of secret flags, and anything shaped like one). */
export function redactArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    if (eq > 0 && SECRET_FLAGS.has(arg.slice(0, eq))) {
      out.push(`${arg.slice(0, eq)}=[redacted]`);
      continue;
    }
    if (SECRET_FLAGS.has(arg) && i + 1 < argv.length) {
      out.push(arg, '[redacted]');
      i++;
      continue;
    }
    out.push(
      arg
        .replace(/[a-z0-9]{6}\.[a-z0-9]{16}/g, '[redacted]')
        .replace(/(^|[^:0-9a-f])[0-9a-f]{64}(?![0-9a-f])/g, '$1[redacted]'),
    );
  }
  return out;
}
