import { stringify as toYaml } from 'yaml';
import { resolveCluster, imageList } from './cluster-params.js';
import { GLOBAL_FLAGS, parseFlags } from './flags.js';
import { kubeadmCerts, kubeadmKubeconfigUser } from './kubeadm-certs.js';
import { kubeadmError, loadConfigFile } from './kubeadm-common.js';
import { kubeadmInit, resolveKubernetesVersion } from './kubeadm-init.js';
import { kubeadmJoin } from './kubeadm-join.js';
import { kubeadmPhaseControlPlane, kubeadmPhaseUploadConfig } from './kubeadm-phase-control-plane.js';
import { kubeadmReset } from './kubeadm-reset.js';
import { kubeadmToken, kubeadmUploadCerts } from './kubeadm-token.js';
import { kubeadmUpgrade } from './kubeadm-upgrade.js';
import type { ClusterConfiguration } from './kubeadm-types.js';
import { runStandin } from './standin-main.js';
import { STANDIN_MARK, StandinExit, type StandinEnv } from './standin-env.js';

/** The kubeadm STAND-IN: a test double for kubeadm that validates what it gets and writes what kubeadm writes. */

export const KUBEADM_HELP = `kubeadm (${STANDIN_MARK}): a test double for kubeadm, used by kctl's tests because the real
kubeadm cannot run here. It validates its arguments and --config files like kubeadm (v1beta3 and
v1beta4; unknown fields and wrong shapes are errors), writes the files kubeadm writes under
$KCTL_HOST_ROOT, and keeps the cluster (tokens, uploaded certs, nodes, etcd members) in the
directory named by $KCTL_HOST_ROOT/etc/kctl-standin/cluster-dir or $KCTL_STANDIN_CLUSTER_DIR.

Commands:
  kubeadm version [-o short|json|yaml]
  kubeadm init --config FILE [--upload-certs] [--ignore-preflight-errors=A,B] (or init flags)
  kubeadm init phase upload-certs --upload-certs [--certificate-key KEY] [--kubeconfig F]
  kubeadm init phase control-plane apiserver --config FILE   (rewrites kube-apiserver.yaml)
  kubeadm init phase upload-config kubeadm --config FILE [--kubeconfig F]
  kubeadm join --config FILE [--ignore-preflight-errors=...] (or join flags and an endpoint)
  kubeadm token create [TOKEN] [--ttl D] [--print-join-command] [--certificate-key KEY]
  kubeadm token list | delete TOKEN... | generate
  kubeadm certs certificate-key
  kubeadm certs renew all        (leaf certificates and kubeconfig client certificates, same CA)
  kubeadm kubeconfig user --client-name N [--org O] [--validity-period D] --config F
  kubeadm reset -f
  kubeadm upgrade plan [VERSION] | apply VERSION -y | node
  kubeadm config validate --config FILE
  kubeadm config images list [--config FILE] [--kubernetes-version V]
`;

function versionInfo(env: StandinEnv): Record<string, string> {
  const v = env.version();
  return {
    major: String(v.major),
    minor: String(v.minor),
    gitVersion: v.raw,
    gitCommit: STANDIN_MARK,
    gitTreeState: 'clean',
    buildDate: '1970-01-01T00:00:00Z',
    goVersion: `(${STANDIN_MARK} on node ${process.version})`,
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}

function version(env: StandinEnv, args: string[]): void {
  const flags = parseFlags(
    args,
    [...GLOBAL_FLAGS, { name: 'output', kind: 'string', short: 'o' }],
    'kubeadm version',
  );
  const info = versionInfo(env);
  switch (flags.string('output') ?? '') {
    case 'short':
      env.out(`${info.gitVersion}\n`);
      return;
    case 'json':
      env.out(`${JSON.stringify({ clientVersion: info }, null, 2)}\n`);
      return;
    case 'yaml':
      env.out(toYaml({ clientVersion: info }));
      return;
    case '': {
      const fields = Object.entries(info)
        .map(([k, v]) => `${k.charAt(0).toUpperCase()}${k.slice(1)}:"${v}"`)
        .join(', ');
      env.out(`kubeadm version: &version.Info{${fields}}\n`);
      return;
    }
    default:
      throw kubeadmError(`error: invalid output format: ${flags.string('output') ?? ''}`);
  }
}

function config(env: StandinEnv, args: string[]): void {
  const [sub = '', ...rest] = args;
  const kubeadm = env.version();
  if (sub === 'validate') {
    const flags = parseFlags(
      rest,
      [...GLOBAL_FLAGS, { name: 'config', kind: 'string' }, { name: 'allow-experimental-api', kind: 'bool' }],
      'kubeadm config validate',
    );
    const path = flags.string('config');
    if (!path) throw kubeadmError('the --config flag is mandatory');
    loadConfigFile(env, path, 'validate', kubeadm);
    env.out('ok\n');
    return;
  }
  if (sub === 'images' && rest[0] === 'list') {
    const flags = parseFlags(
      rest.slice(1),
      [
        ...GLOBAL_FLAGS,
        { name: 'config', kind: 'string' },
        { name: 'kubernetes-version', kind: 'string' },
        { name: 'image-repository', kind: 'string' },
        { name: 'output', kind: 'string', short: 'o' },
        { name: 'feature-gates', kind: 'string' },
        { name: 'allow-missing-template-keys', kind: 'bool' },
      ],
      'kubeadm config images list',
    );
    const path = flags.string('config');
    const cc: ClusterConfiguration = (path
      ? loadConfigFile(env, path, 'init', kubeadm).cluster
      : undefined) ?? {
      apiVersion: 'kubeadm.k8s.io/v1beta4',
      kind: 'ClusterConfiguration',
      ...(flags.string('image-repository') ? { imageRepository: flags.string('image-repository') } : {}),
    };
    const target = resolveKubernetesVersion(
      env,
      flags.string('kubernetes-version') ?? cc.kubernetesVersion,
      kubeadm,
    );
    env.out(`${imageList(resolveCluster(cc, target)).join('\n')}\n`);
    return;
  }
  throw new StandinExit(`kubeadm (${STANDIN_MARK}): "config ${sub}" is not implemented by the stand-in`);
}

function isHelp(args: readonly string[]): boolean {
  return args.includes('--help') || args.includes('-h');
}

runStandin('kubeadm', async (env, args) => {
  const [cmd, ...rest] = args;
  if (cmd === undefined || cmd === 'help' || isHelp(args)) {
    env.out(KUBEADM_HELP);
    return undefined;
  }
  switch (cmd) {
    case 'version':
      version(env, rest);
      return undefined;
    case 'init':
      if (rest[0] === 'phase') {
        if (rest[1] === 'upload-certs') {
          await kubeadmUploadCerts(env, rest.slice(2));
          return undefined;
        }
        if (rest[1] === 'control-plane') {
          kubeadmPhaseControlPlane(env, rest.slice(2));
          return undefined;
        }
        if (rest[1] === 'upload-config') {
          await kubeadmPhaseUploadConfig(env, rest.slice(2));
          return undefined;
        }
        throw new StandinExit(
          `kubeadm (${STANDIN_MARK}): "init phase ${rest[1] ?? ''}" is not implemented by the stand-in`,
        );
      }
      return kubeadmInit(env, rest);
    case 'join':
      return kubeadmJoin(env, rest);
    case 'token':
      await kubeadmToken(env, rest);
      return undefined;
    case 'certs':
      await kubeadmCerts(env, rest);
      return undefined;
    case 'kubeconfig':
      await kubeadmKubeconfigUser(env, rest);
      return undefined;
    case 'reset':
      return kubeadmReset(env, rest);
    case 'upgrade':
      return kubeadmUpgrade(env, rest);
    case 'config':
      config(env, rest);
      return undefined;
    default:
      throw kubeadmError(`unknown command "${cmd}" for "kubeadm"\nRun 'kubeadm --help' for usage.`);
  }
});
