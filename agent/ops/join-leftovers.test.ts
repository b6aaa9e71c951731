import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { tempHost, type TempHost } from '../../test/fixtures/temp-host.js';
import { StateDir } from '../host/state-dir.js';
import { MutatingRunLock } from '../mutating-run-lock.js';
import { findJoinLeftovers, JOIN_LEFTOVERS } from './join-leftovers.js';
import { kubeadmJoinOp } from './kubeadm-ops.js';
import { fileChecks } from '../checks/files.js';
import type { CheckInput } from '../checks/check.js';
import type { PreflightSpec } from '../../proto/checks.js';

const log = pino({ level: 'silent' });
// a recording kubeadm: reset removes what kubeadm reset removes, join writes kubelet.conf
const KUBEADM_SCRIPT = [
  'r="${KCTL_HOST_ROOT:-}"',
  'case "$1" in',
  '  reset) rm -rf "$r/etc/kubernetes/pki" "$r/etc/kubernetes/bootstrap-kubelet.conf" "$r/etc/kubernetes/manifests" ;;',
  '  join) mkdir -p "$r/etc/kubernetes" && echo joined > "$r/etc/kubernetes/kubelet.conf" ;;',
  'esac',
].join('\n');

describe('a half-done join is reset before the join is tried again', () => {
  let t: TempHost | undefined;
  let stateRoot: string | undefined;
  afterEach(async () => {
    await t?.cleanup();
    if (stateRoot) await rm(stateRoot, { recursive: true, force: true });
  });

  async function join_(files: Record<string, string>, script = KUBEADM_SCRIPT) {
    t = await tempHost({ files, programs: { kubeadm: { script } } });
    stateRoot = await mkdtemp(join(tmpdir(), 'kctl-leftovers-state-'));
    const state = new StateDir(join(stateRoot, 'state'));
    await state.init();
    const host = new MutatingRunLock({ state, log }).guard(t.host);
    const messages: string[] = [];
    const run = kubeadmJoinOp.run(
      { config: 'kind: JoinConfiguration\n', controlPlane: false, manifests: [], ignorePreflightErrors: [] },
      {
        host,
        hostId: 'h',
        log,
        signal: new AbortController().signal,
        progress: (p) => messages.push(p.message),
      },
    );
    return { run, messages, calls: () => t!.calls() };
  }

  it.each([
    ['a worker join killed after it wrote ca.crt', { '/etc/kubernetes/pki/ca.crt': 'CA' }],
    ['a join that got as far as bootstrap-kubelet.conf', { '/etc/kubernetes/bootstrap-kubelet.conf': 'x' }],
    ['a control-plane join that wrote static pods', { '/etc/kubernetes/manifests/etcd.yaml': 'x' }],
  ])('%s: kubeadm reset -f, then the join', async (_name, files) => {
    const { run, messages, calls } = await join_(files);
    expect(await run).toEqual({ alreadyJoined: false });
    expect((await calls()).map((c) => c.args.slice(0, 2).join(' '))).toEqual(['reset -f', 'join --config']);
    expect(messages[0]).toMatch(
      /^an earlier join did not finish \(left \/etc\/kubernetes\/.*\): kubeadm reset -f$/,
    );
  });

  it('joins without a reset when nothing was left', async () => {
    const { run, messages, calls } = await join_({ '/etc/kubernetes/manifests/kube-vip.yaml': 'x' });
    await run;
    expect((await calls()).map((c) => c.args[0])).toEqual(['join']);
    expect(messages).toEqual(['kubeadm join']);
  });

  it('does nothing on a joined node', async () => {
    const { run, calls } = await join_({
      '/etc/kubernetes/kubelet.conf': 'x',
      '/etc/kubernetes/pki/ca.crt': 'CA',
    });
    expect(await run).toEqual({ alreadyJoined: true });
    expect(await calls()).toEqual([]);
  });

  it('fails, without joining, when the reset leaves the files', async () => {
    const { run, calls } = await join_({ '/etc/kubernetes/pki/ca.crt': 'CA' }, 'true');
    await expect(run).rejects.toMatchObject({
      code: 'step_failed',
      message: 'kubeadm reset -f left /etc/kubernetes/pki/ca.crt on this host',
    });
    expect((await calls()).map((c) => c.args[0])).toEqual(['reset']);
  });

  it.each([
    ['a worker join with no kubelet.conf: a warning, the join resets', {}, 'warn'],
    ['a joined node: an error', { '/etc/kubernetes/kubelet.conf': 'x' }, 'fail'],
  ])('preflight FileAvailable ca.crt on %s', async (_name, files, status) => {
    t = await tempHost({ files: { '/etc/kubernetes/pki/ca.crt': 'CA', ...files } });
    const check = fileChecks().find((c) => c.id === 'FileAvailable--etc-kubernetes-pki-ca.crt')!;
    const outcome = await check.run({
      host: t.host,
      spec: { role: 'worker' } as PreflightSpec,
    } as unknown as CheckInput);
    expect(outcome.status).toBe(status);
  });

  it('lists only files present', async () => {
    t = await tempHost({ files: { [JOIN_LEFTOVERS[1]]: 'x' } });
    expect(await findJoinLeftovers(t.host)).toEqual(['/etc/kubernetes/bootstrap-kubelet.conf']);
  });
});
