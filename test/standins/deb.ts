/**
 * Debian packages of the kubeadm, kubelet and kubectl STAND-INS, built with dpkg-deb, so a lab host
 * installs them with real apt from the offline bundle, as it would install the real packages from
 * pkgs.k8s.io. Same package names and version scheme (`1.31.2-1.1`), so kctl's pinned installs
 * and holds work unchanged; every Description says they are stand-ins.
 *
 * The stand-ins are Node scripts (one esbuild bundle each, test/standins/build.ts): the packages
 * depend on Debian's `nodejs`, which the bundle carries with its dependencies, so apt pulls it in.
 * Their shared cluster state (what the API server and etcd would hold) is the directory
 * STANDIN_CLUSTER_DIR in every host; `kctl-standin-common` names it in /etc/kctl-standin/cluster-dir,
 * and the lab bind-mounts one directory of this machine there.
 *
 *   npx tsx test/standins/deb.ts OUT_DIR [--version v1.31.2]
 */
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { STANDIN_TOOLS, buildStandins, type StandinTool } from './build.js';

const run = promisify(execFile);

/** where every lab host finds the stand-ins' shared cluster directory */
export const STANDIN_CLUSTER_DIR = '/var/lib/kctl-standin/cluster';
export const STANDIN_COMMON_PACKAGE = 'kctl-standin-common';
/**
 * One version for every Kubernetes version: the common package only names the cluster directory.
 * The kube packages depend on it with `>=`, as the real ones depend on cri-tools and kubernetes-cni:
 * an exact `=` would make `apt-get install kubelet=1.31.2-1.1` fail as soon as the repository also
 * holds a newer common package (apt takes the newest candidate for a dependency).
 */
export const STANDIN_COMMON_VERSION = '1.0';
const LIB = '/usr/lib/kctl-standins';
/** pkgs.k8s.io's kubernetes-cni of the 1.31 line; one version serves every stand-in minor */
const KUBERNETES_CNI_VERSION = '1.5.1-1.1';

/**
 * The real packages' Depends (kubernetes/release's deb specs for pkgs.k8s.io, and the older
 * Google-repo control files): kubelet needs the packet-filter and namespace tools kubeadm's
 * preflight looks for (conntrack, iptables, ebtables, ethtool, socat, ip and tc from iproute2,
 * mount, nsenter from util-linux), and kubeadm needs the kubelet, kubectl, cri-tools and
 * kubernetes-cni. A bundle built from these carries what the real ones would pull in.
 */
export const REAL_DEPENDS: Record<StandinTool, readonly string[]> = {
  kubelet: [
    'iptables (>= 1.4.21)',
    'iproute2',
    'socat',
    'util-linux',
    'mount',
    'ebtables',
    'ethtool',
    'conntrack',
    'kubernetes-cni (>= 1.1.1)',
  ],
  // kubeadm asks the kubelet on PATH for its version, as the real one does
  kubeadm: [
    'kubelet (>= 1.19.0)',
    'kubectl (>= 1.13.0)',
    'cri-tools (>= 1.25.0)',
    'kubernetes-cni (>= 1.1.1)',
  ],
  kubectl: [],
};
const MAINTAINER = 'kctl maintainers <maintainers@kctl.invalid>';

/**
 * Debian 12's packages that satisfy the kubelet stand-in's tool Depends (REAL_DEPENDS): tests that
 * install the stand-ins into a temp root without a Debian mirror mark these as installed.
 */
export const BASE_TOOL_PACKAGES: ReadonlyArray<{ name: string; version: string }> = [
  { name: 'iptables', version: '1.8.9-2' },
  { name: 'iproute2', version: '6.1.0-3' },
  { name: 'socat', version: '1.7.4.4-2' },
  { name: 'util-linux', version: '2.38.1-5+deb12u3' },
  { name: 'mount', version: '2.38.1-5+deb12u3' },
  { name: 'ebtables', version: '2.0.11-5' },
  { name: 'ethtool', version: '1:6.1-1' },
  { name: 'conntrack', version: '1:1.4.7-1+b2' },
];

export interface StandinDeb {
  name: string;
  version: string;
  path: string;
}

export interface BuildStandinDebsOptions {
  /** Kubernetes version the stand-ins claim, default v1.31.2 */
  version?: string;
  /** Debian revision, as pkgs.k8s.io's OBS builds carry (controller/render/packages.ts) */
  debRevision?: string;
}

/** `v1.31.2` -> `1.31.2-1.1`, the version kctl pins for the kube packages. */
export function standinDebVersion(version: string, debRevision = '1.1'): string {
  const m = /^v?(\d+\.\d+\.\d+)$/.exec(version);
  if (!m) throw new Error(`stand-in version "${version}" must look like v1.31.2`);
  return `${m[1]}-${debRevision}`;
}

const DESCRIPTIONS: Record<StandinTool, string> = {
  kubeadm: 'STAND-IN for kubeadm (kctl test double, not Kubernetes)',
  kubelet: 'STAND-IN for the kubelet (kctl test double, not Kubernetes)',
  kubectl: 'STAND-IN for kubectl (kctl test double, not Kubernetes)',
};

const LONG_DESCRIPTION =
  ' kctl end-to-end tests and the lab demo install this package in place of the real one.\n' +
  ' It validates the configs and flags it is given, writes the files the real tool writes and\n' +
  ' keeps a shared simulated cluster in /var/lib/kctl-standin/cluster; it runs no container,\n' +
  ' API server or kubelet. See test/standins/README.md in the kctl repository.\n';

/**
 * The kubelet unit. The real kubelet is a long-running service; the stand-in runs nothing, so each
 * start of the unit runs `kubelet --standin-start` once (oneshot, and it stays "active" after), which
 * records in the stand-in cluster that this node's kubelet now runs the installed version.
 * `systemctl restart kubelet` runs it again: a package upgrade without a restart leaves the node
 * reporting the old version, as a real node does. No Restart=: systemd refuses it on a oneshot.
 */
export const KUBELET_UNIT = `# kubelet STAND-IN unit (kctl test double): each start records the installed stand-in
# kubelet's version as this node's running kubelet in the stand-in cluster; nothing keeps running.
[Unit]
Description=kubelet STAND-IN (kctl test double, runs no kubelet)
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target
ConditionPathExists=/var/lib/kubelet/config.yaml

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/kubelet --standin-start

[Install]
WantedBy=multi-user.target
`;

async function dpkgDeb(
  stage: string,
  outDir: string,
  control: Record<string, string>,
  conffiles: string[] = [],
): Promise<StandinDeb> {
  await mkdir(join(stage, 'DEBIAN'), { recursive: true });
  const fields = Object.entries({
    Package: control.Package,
    Version: control.Version,
    Architecture: 'all',
    Maintainer: MAINTAINER,
    Section: 'admin',
    Priority: 'optional',
    ...control,
  })
    .map(([k, v]) => `${k}: ${v}\n`)
    .join('');
  await writeFile(join(stage, 'DEBIAN/control'), fields);
  if (conffiles.length > 0)
    await writeFile(join(stage, 'DEBIAN/conffiles'), conffiles.map((c) => `${c}\n`).join(''));
  const name = control.Package ?? '';
  const version = control.Version ?? '';
  const path = join(outDir, `${name}_${version}_all.deb`);
  await run('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', stage, path], {
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', SOURCE_DATE_EPOCH: '1700000000' },
  });
  return { name, version, path };
}

/** Builds kubeadm, kubelet, kubectl, kctl-standin-common, cri-tools and kubernetes-cni .debs into outDir. */
export async function buildStandinDebs(
  outDir: string,
  options: BuildStandinDebsOptions = {},
): Promise<StandinDeb[]> {
  const kubeVersion = options.version ?? 'v1.31.2';
  const debVersion = standinDebVersion(kubeVersion, options.debRevision);
  await mkdir(outDir, { recursive: true });
  const work = await mkdtemp(join(tmpdir(), 'kctl-standin-debs-'));
  try {
    const bin = join(work, 'bin');
    // `#!/usr/bin/env node`: the host's node is Debian's /usr/bin/node, on the agent's PATH
    await buildStandins(bin, { version: kubeVersion, shebang: 'env' });
    const debs: StandinDeb[] = [];

    const common = join(work, STANDIN_COMMON_PACKAGE);
    await mkdir(join(common, 'etc/kctl-standin'), { recursive: true });
    await mkdir(join(common, STANDIN_CLUSTER_DIR.slice(1)), { recursive: true });
    await writeFile(join(common, 'etc/kctl-standin/cluster-dir'), `${STANDIN_CLUSTER_DIR}\n`);
    debs.push(
      await dpkgDeb(
        common,
        outDir,
        {
          Package: STANDIN_COMMON_PACKAGE,
          Version: STANDIN_COMMON_VERSION,
          Description: `shared settings of the kubeadm/kubelet/kubectl STAND-INS (kctl test doubles)\n${LONG_DESCRIPTION}`,
        },
        ['/etc/kctl-standin/cluster-dir'],
      ),
    );

    for (const tool of STANDIN_TOOLS) {
      const stage = join(work, tool);
      const lib = join(stage, LIB.slice(1), tool);
      await mkdir(lib, { recursive: true });
      await mkdir(join(stage, 'usr/bin'), { recursive: true });
      await copyFile(join(bin, tool), join(lib, tool));
      await chmod(join(lib, tool), 0o755);
      // an extensionless file is CommonJS only when its package.json says so (Node reads the real path)
      await writeFile(join(lib, 'package.json'), '{"type":"commonjs"}\n');
      await symlink(`${LIB}/${tool}/${tool}`, join(stage, 'usr/bin', tool));
      if (tool === 'kubelet') {
        await mkdir(join(stage, 'lib/systemd/system'), { recursive: true });
        await writeFile(join(stage, 'lib/systemd/system/kubelet.service'), KUBELET_UNIT);
      }
      const depends = [
        'nodejs (>= 18)',
        `${STANDIN_COMMON_PACKAGE} (>= ${STANDIN_COMMON_VERSION})`,
        ...REAL_DEPENDS[tool],
      ];
      debs.push(
        await dpkgDeb(stage, outDir, {
          Package: tool,
          Version: debVersion,
          Depends: depends.join(', '),
          Description: `${DESCRIPTIONS[tool]}\n${LONG_DESCRIPTION}`,
        }),
      );
    }
    // the two other packages of a pkgs.k8s.io repository, which the real kubeadm and kubelet depend on
    const minor = /^v?(\d+\.\d+)\./.exec(kubeVersion)?.[1] ?? '1.31';
    for (const [name, version, description] of [
      ['cri-tools', `${minor}.0-1.1`, 'STAND-IN for cri-tools (crictl; kctl test double, ships no crictl)'],
      [
        'kubernetes-cni',
        KUBERNETES_CNI_VERSION,
        'STAND-IN for kubernetes-cni (kctl test double, ships no CNI plugins)',
      ],
    ] as const) {
      const stage = join(work, name);
      await mkdir(join(stage, 'usr/share/doc', name), { recursive: true });
      await writeFile(join(stage, 'usr/share/doc', name, 'README.stand-in'), `${description}\n`);
      debs.push(
        await dpkgDeb(stage, outDir, {
          Package: name,
          Version: version,
          Description: `${description}\n${LONG_DESCRIPTION}`,
        }),
      );
    }
    for (const d of debs) await stat(d.path);
    return debs;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const out = args[0];
  const vi = args.indexOf('--version');
  const version = vi >= 0 ? args[vi + 1] : undefined;
  if (out === undefined || out.startsWith('-')) {
    process.stderr.write('usage: npx tsx test/standins/deb.ts OUT_DIR [--version v1.31.2]\n');
    process.exit(2);
  }
  const debs = await buildStandinDebs(out, version !== undefined ? { version } : {});
  for (const d of debs) process.stdout.write(`${d.path}\n`);
}
