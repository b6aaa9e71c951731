import { runStandin } from './standin-main.js';
import { STANDIN_MARK, StandinExit, type StandinEnv } from './standin-env.js';

/**
 * The kubelet STAND-IN: it answers `--version` with the version configured for its host root, and
 * `--standin-start` (its systemd unit's ExecStart) records that this node's kubelet now runs that
 * version in the shared stand-in cluster; nothing else.
 */

const KUBELET_CONFIG = '/var/lib/kubelet/config.yaml';

const HELP = `kubelet (${STANDIN_MARK}): a test double for the kubelet, used by kctl's tests.
It only answers --version (the version in $KCTL_HOST_ROOT/etc/kctl-standin/version, else
$KCTL_STANDIN_VERSION); it never runs pods.

Usage:
  kubelet --version          prints "Kubernetes vX.Y.Z"
  kubelet --version=raw      prints the full version info
  kubelet --standin-start    what the stand-in kubelet unit runs on each start: records in the
                             stand-in cluster that this node's kubelet runs this version (a Node
                             reports it until the next start), (re)starts the stand-in API server
                             when the kube-apiserver manifest exists, then exits
  kubelet --standin-apiserver
                             runs this control plane's stand-in API server in the foreground
                             (/healthz, /livez, /readyz, /version over TLS with pki/apiserver.crt)
`;

/** One start of the kubelet unit: the node's running kubelet is now this binary's version. */
async function standinStart(env: StandinEnv): Promise<string> {
  const [{ updateState }, { recordKubeletStart }, { joinedNodeName }, { hostExists }] = await Promise.all([
    import('./cluster-state.js'),
    import('./kubelet-run.js'),
    import('./node-identity.js'),
    import('./host-files.js'),
  ]);
  if (!hostExists(env, KUBELET_CONFIG)) {
    // what the real kubelet says before kubeadm configured it (the unit's condition normally prevents this)
    throw new StandinExit(
      `E "command failed" err="failed to load kubelet config file, path: ${KUBELET_CONFIG}, error: open ${KUBELET_CONFIG}: no such file or directory"`,
    );
  }
  const node = joinedNodeName(env) ?? env.defaultNodeName();
  env.node = node;
  const version = env.version().raw;
  await updateState(env.clusterDir(), (state) =>
    recordKubeletStart(state, node, version, env.hostRoot, env.now()),
  );
  const { startStandinApiServer } = await import('./apiserver.js');
  const apiServer = startStandinApiServer(env);
  env.out(
    `kubelet (${STANDIN_MARK}) ${version} started for node "${node}"; ${apiServer ? 'it runs the stand-in kube-apiserver, nothing else' : 'it runs nothing'}\n`,
  );
  return node;
}

runStandin('kubelet', (env, args) => {
  const [first] = args;
  if (args.length === 0 || first === '--help' || first === '-h' || first === 'help') {
    env.out(HELP);
    return Promise.resolve(undefined);
  }
  if (args.length === 1 && (first === '--version' || first === '--version=true')) {
    env.out(`Kubernetes ${env.version().raw}\n`);
    return Promise.resolve(undefined);
  }
  if (args.length === 1 && first === '--standin-start') return standinStart(env);
  if (args.length === 1 && first === '--standin-apiserver')
    return import('./apiserver.js').then(({ runStandinApiServer }) => runStandinApiServer(env));
  if (args.length === 1 && first === '--version=raw') {
    const v = env.version();
    env.out(
      `version.Info{Major:"${v.major}", Minor:"${v.minor}", GitVersion:"${v.raw}", GitCommit:"${STANDIN_MARK}", GitTreeState:"clean", BuildDate:"1970-01-01T00:00:00Z", GoVersion:"(${STANDIN_MARK} on node ${process.version})", Compiler:"gc", Platform:"linux/amd64"}\n`,
    );
    return Promise.resolve(undefined);
  }
  if (first?.startsWith('--version=')) {
    throw new StandinExit(
      `invalid argument "${first.slice('--version='.length)}" for "--version" flag: strconv.ParseBool: parsing: invalid syntax`,
    );
  }
  throw new StandinExit(
    `kubelet (${STANDIN_MARK}): only --version, --standin-start and --standin-apiserver are supported; the stand-in does not run a kubelet (got: ${args.join(' ')})`,
  );
});
