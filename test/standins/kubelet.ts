import { runStandin } from './standin-main.js';
import { STANDIN_MARK, StandinExit } from './standin-env.js';

/** The kubelet STAND-IN: it answers `--version` with the version configured for its host root, and nothing else. */

const HELP = `kubelet (${STANDIN_MARK}): a test double for the kubelet, used by kctl's tests.
It only answers --version (the version in $KCTL_HOST_ROOT/etc/kctl-standin/version, else
$KCTL_STANDIN_VERSION); it never runs pods.

Usage:
  kubelet --version          prints "Kubernetes vX.Y.Z"
  kubelet --version=raw      prints the full version info
`;

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
    `kubelet (${STANDIN_MARK}): only --version is supported; the stand-in does not run a kubelet (got: ${args.join(' ')})`,
  );
});
