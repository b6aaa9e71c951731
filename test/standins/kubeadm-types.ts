import * as z from 'zod';
import { parseGoDuration } from './k8s-values.js';

/**
 * Strict zod schemas of the upstream kubeadm configuration types (kubeadm.k8s.io v1beta3 and
 * v1beta4; kubeadm-facts.md §4). Field names and shapes follow the Go types' JSON tags: unknown
 * fields are errors, and so are wrong shapes such as an extraArgs map in v1beta4 (a list of
 * {name, value} there) or a list in v1beta3 (a map there). Each schema carries the Go type name it
 * stands for, so a shape error reads like Go's JSON decoder.
 */

/** Marks an issue message as "the value has the wrong JSON type; the Go type is ...". */
export const GO_TYPE_MARK = 'go-type:';

type IssueLike = { code?: string };
export const goType = (name: string) => ({
  error: (iss: IssueLike) => (iss.code === 'invalid_type' ? `${GO_TYPE_MARK}${name}` : undefined),
});

export const str = () => z.string(goType('string'));
export const bool = () => z.boolean(goType('bool'));
export const int32 = () => z.int(goType('int32'));
export const int64 = () => z.int(goType('int64'));
export const float64 = () => z.number(goType('float64'));
export const strs = () => z.array(str(), goType('[]string'));
export const strMap = () => z.record(z.string(), str(), goType('map[string]string'));
export const boolMap = () => z.record(z.string(), bool(), goType('map[string]bool'));
/** metav1.Duration: a Go duration string, parsed while decoding as Go does */
export const duration = () =>
  z.string(goType('v1.Duration')).refine((v) => parseGoDuration(v) !== undefined, {
    error: (iss) => `time: invalid duration ${JSON.stringify(String(iss.input))}`,
  });
/** metav1.Time: RFC 3339 */
export const rfc3339 = () =>
  z
    .string(goType('v1.Time'))
    .refine((v) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v), {
      error: (iss) =>
        `parsing time ${JSON.stringify(String(iss.input))} as "2006-01-02T15:04:05Z07:00": cannot parse ${JSON.stringify(String(iss.input))} as "2006"`,
    });

export type KubeadmApiVersion = 'v1beta3' | 'v1beta4';
const anyMap = () => z.record(z.string(), z.unknown(), goType('struct'));

// ---- pieces shared by both versions ----

const BootstrapToken = z.strictObject(
  {
    token: str(),
    description: str().optional(),
    ttl: duration().optional(),
    expires: rfc3339().optional(),
    usages: strs().optional(),
    groups: strs().optional(),
  },
  goType('v1.BootstrapToken'),
);
const BootstrapTokens = z.array(BootstrapToken, goType('[]v1.BootstrapToken'));

const Taint = z.strictObject(
  { key: str(), value: str().optional(), effect: str(), timeAdded: rfc3339().optional() },
  goType('v1.Taint'),
);
const Taints = z.array(Taint, goType('[]v1.Taint'));

const EnvVar = z.strictObject(
  {
    name: str(),
    value: str().optional(),
    valueFrom: z
      .strictObject(
        {
          fieldRef: anyMap().optional(),
          resourceFieldRef: anyMap().optional(),
          configMapKeyRef: anyMap().optional(),
          secretKeyRef: anyMap().optional(),
          fileKeyRef: anyMap().optional(),
        },
        goType('v1.EnvVarSource'),
      )
      .optional(),
  },
  goType('v1.EnvVar'),
);
const ExtraEnvs = z.array(EnvVar, goType('[]v1beta4.EnvVar'));

const Timeouts = z.strictObject(
  {
    controlPlaneComponentHealthCheck: duration().optional(),
    kubeletHealthCheck: duration().optional(),
    kubernetesAPICall: duration().optional(),
    etcdAPICall: duration().optional(),
    tlsBootstrap: duration().optional(),
    discovery: duration().optional(),
    upgradeManifests: duration().optional(),
  },
  goType('v1beta4.Timeouts'),
);

const Arg = z.strictObject({ name: str(), value: str() }, goType('v1beta4.Arg'));
/** v1beta4: a list of {name, value}; duplicates allowed */
const ArgsV4 = z.array(Arg, goType('[]v1beta4.Arg'));
/** v1beta3: a map of flag name to value */
const ArgsV3 = strMap();

const apiEndpoint = (v: KubeadmApiVersion) =>
  z.strictObject(
    { advertiseAddress: str().optional(), bindPort: int32().optional() },
    goType(`${v}.APIEndpoint`),
  );
const hostPathMounts = (v: KubeadmApiVersion) =>
  z.array(
    z.strictObject(
      {
        name: str(),
        hostPath: str(),
        mountPath: str(),
        readOnly: bool().optional(),
        pathType: str().optional(),
      },
      goType(`${v}.HostPathMount`),
    ),
    goType(`[]${v}.HostPathMount`),
  );
const patches = (v: KubeadmApiVersion) =>
  z.strictObject({ directory: str().optional() }, goType(`${v}.Patches`));
const imageMeta = { imageRepository: str().optional(), imageTag: str().optional() };
const externalEtcd = (v: KubeadmApiVersion) =>
  z.strictObject(
    { endpoints: strs(), caFile: str().optional(), certFile: str().optional(), keyFile: str().optional() },
    goType(`${v}.ExternalEtcd`),
  );
const networking = (v: KubeadmApiVersion) =>
  z.strictObject(
    { serviceSubnet: str().optional(), podSubnet: str().optional(), dnsDomain: str().optional() },
    goType(`${v}.Networking`),
  );
const bootstrapTokenDiscovery = (v: KubeadmApiVersion) =>
  z.strictObject(
    {
      token: str().optional(),
      apiServerEndpoint: str().optional(),
      caCertHashes: strs().optional(),
      unsafeSkipCAVerification: bool().optional(),
    },
    goType(`${v}.BootstrapTokenDiscovery`),
  );
const fileDiscovery = (v: KubeadmApiVersion) =>
  z.strictObject({ kubeConfigPath: str() }, goType(`${v}.FileDiscovery`));
const joinControlPlane = (v: KubeadmApiVersion) =>
  z.strictObject(
    { localAPIEndpoint: apiEndpoint(v).optional(), certificateKey: str().optional() },
    goType(`${v}.JoinControlPlane`),
  );
const TypeMeta = { apiVersion: z.string(), kind: z.string() };

// ---- v1beta4 (kubeadm >= 1.31): the model the stand-ins work with ----

const NodeRegistrationV4 = z.strictObject(
  {
    name: str().optional(),
    criSocket: str().optional(),
    taints: Taints.optional(),
    kubeletExtraArgs: ArgsV4.optional(),
    ignorePreflightErrors: strs().optional(),
    imagePullPolicy: str().optional(),
    imagePullSerial: bool().optional(),
  },
  goType('v1beta4.NodeRegistrationOptions'),
);

export const InitConfigurationV4 = z.strictObject(
  {
    ...TypeMeta,
    bootstrapTokens: BootstrapTokens.optional(),
    dryRun: bool().optional(),
    nodeRegistration: NodeRegistrationV4.optional(),
    localAPIEndpoint: apiEndpoint('v1beta4').optional(),
    certificateKey: str().optional(),
    skipPhases: strs().optional(),
    patches: patches('v1beta4').optional(),
    timeouts: Timeouts.optional(),
  },
  goType('v1beta4.InitConfiguration'),
);

const componentV4 = {
  extraArgs: ArgsV4.optional(),
  extraVolumes: hostPathMounts('v1beta4').optional(),
  extraEnvs: ExtraEnvs.optional(),
};
const ControlPlaneComponentV4 = z.strictObject(componentV4, goType('v1beta4.ControlPlaneComponent'));

export const ClusterConfigurationV4 = z.strictObject(
  {
    ...TypeMeta,
    etcd: z
      .strictObject(
        {
          local: z
            .strictObject(
              {
                ...imageMeta,
                dataDir: str().optional(),
                extraArgs: ArgsV4.optional(),
                extraEnvs: ExtraEnvs.optional(),
                serverCertSANs: strs().optional(),
                peerCertSANs: strs().optional(),
              },
              goType('v1beta4.LocalEtcd'),
            )
            .optional(),
          external: externalEtcd('v1beta4').optional(),
        },
        goType('v1beta4.Etcd'),
      )
      .optional(),
    networking: networking('v1beta4').optional(),
    kubernetesVersion: str().optional(),
    controlPlaneEndpoint: str().optional(),
    apiServer: z
      .strictObject({ ...componentV4, certSANs: strs().optional() }, goType('v1beta4.APIServer'))
      .optional(),
    controllerManager: ControlPlaneComponentV4.optional(),
    scheduler: ControlPlaneComponentV4.optional(),
    dns: z.strictObject({ ...imageMeta, disabled: bool().optional() }, goType('v1beta4.DNS')).optional(),
    proxy: z.strictObject({ disabled: bool().optional() }, goType('v1beta4.Proxy')).optional(),
    certificatesDir: str().optional(),
    imageRepository: str().optional(),
    featureGates: boolMap().optional(),
    clusterName: str().optional(),
    encryptionAlgorithm: str().optional(),
    certificateValidityPeriod: duration().optional(),
    caCertificateValidityPeriod: duration().optional(),
  },
  goType('v1beta4.ClusterConfiguration'),
);

export const JoinConfigurationV4 = z.strictObject(
  {
    ...TypeMeta,
    dryRun: bool().optional(),
    nodeRegistration: NodeRegistrationV4.optional(),
    caCertPath: str().optional(),
    discovery: z.strictObject(
      {
        bootstrapToken: bootstrapTokenDiscovery('v1beta4').optional(),
        file: fileDiscovery('v1beta4').optional(),
        tlsBootstrapToken: str().optional(),
      },
      goType('v1beta4.Discovery'),
    ),
    controlPlane: joinControlPlane('v1beta4').optional(),
    skipPhases: strs().optional(),
    patches: patches('v1beta4').optional(),
    timeouts: Timeouts.optional(),
  },
  goType('v1beta4.JoinConfiguration'),
);

export const ResetConfigurationV4 = z.strictObject(
  {
    ...TypeMeta,
    cleanupTmpDir: bool().optional(),
    certificatesDir: str().optional(),
    criSocket: str().optional(),
    dryRun: bool().optional(),
    force: bool().optional(),
    ignorePreflightErrors: strs().optional(),
    skipPhases: strs().optional(),
    unmountFlags: strs().optional(),
    timeouts: Timeouts.optional(),
  },
  goType('v1beta4.ResetConfiguration'),
);

const upgradeCommon = { dryRun: bool().optional(), ignorePreflightErrors: strs().optional() };
const upgradeNodeLike = {
  ...upgradeCommon,
  certificateRenewal: bool().optional(),
  etcdUpgrade: bool().optional(),
  skipPhases: strs().optional(),
  patches: patches('v1beta4').optional(),
  imagePullPolicy: str().optional(),
  imagePullSerial: bool().optional(),
};
const upgradeVersioned = {
  kubernetesVersion: str().optional(),
  allowExperimentalUpgrades: bool().optional(),
  allowRCUpgrades: bool().optional(),
  printConfig: bool().optional(),
};

export const UpgradeConfigurationV4 = z.strictObject(
  {
    ...TypeMeta,
    apply: z
      .strictObject(
        { ...upgradeNodeLike, ...upgradeVersioned, forceUpgrade: bool().optional() },
        goType('v1beta4.UpgradeApplyConfiguration'),
      )
      .optional(),
    diff: z
      .strictObject(
        { kubernetesVersion: str().optional(), contextLines: int32().optional() },
        goType('v1beta4.UpgradeDiffConfiguration'),
      )
      .optional(),
    node: z.strictObject(upgradeNodeLike, goType('v1beta4.UpgradeNodeConfiguration')).optional(),
    plan: z
      .strictObject({ ...upgradeCommon, ...upgradeVersioned }, goType('v1beta4.UpgradePlanConfiguration'))
      .optional(),
    timeouts: Timeouts.optional(),
  },
  goType('v1beta4.UpgradeConfiguration'),
);

export type InitConfiguration = z.infer<typeof InitConfigurationV4>;
export type ClusterConfiguration = z.infer<typeof ClusterConfigurationV4>;
export type JoinConfiguration = z.infer<typeof JoinConfigurationV4>;
export type ResetConfiguration = z.infer<typeof ResetConfigurationV4>;
export type UpgradeConfiguration = z.infer<typeof UpgradeConfigurationV4>;
export type NodeRegistration = z.infer<typeof NodeRegistrationV4>;
export type Arg = z.infer<typeof Arg>;

// ---- v1beta3 (kubeadm 1.22 – 1.35): validated as written, then converted to the v1beta4 model ----

const NodeRegistrationV3 = z.strictObject(
  {
    name: str().optional(),
    criSocket: str().optional(),
    taints: Taints.optional(),
    kubeletExtraArgs: ArgsV3.optional(),
    ignorePreflightErrors: strs().optional(),
    imagePullPolicy: str().optional(),
  },
  goType('v1beta3.NodeRegistrationOptions'),
);

export const InitConfigurationV3 = z.strictObject(
  {
    ...TypeMeta,
    bootstrapTokens: BootstrapTokens.optional(),
    nodeRegistration: NodeRegistrationV3.optional(),
    localAPIEndpoint: apiEndpoint('v1beta3').optional(),
    certificateKey: str().optional(),
    skipPhases: strs().optional(),
    patches: patches('v1beta3').optional(),
  },
  goType('v1beta3.InitConfiguration'),
);

const componentV3 = { extraArgs: ArgsV3.optional(), extraVolumes: hostPathMounts('v1beta3').optional() };

export const ClusterConfigurationV3 = z.strictObject(
  {
    ...TypeMeta,
    etcd: z
      .strictObject(
        {
          local: z
            .strictObject(
              {
                ...imageMeta,
                dataDir: str().optional(),
                extraArgs: ArgsV3.optional(),
                serverCertSANs: strs().optional(),
                peerCertSANs: strs().optional(),
              },
              goType('v1beta3.LocalEtcd'),
            )
            .optional(),
          external: externalEtcd('v1beta3').optional(),
        },
        goType('v1beta3.Etcd'),
      )
      .optional(),
    networking: networking('v1beta3').optional(),
    kubernetesVersion: str().optional(),
    controlPlaneEndpoint: str().optional(),
    apiServer: z
      .strictObject(
        { ...componentV3, certSANs: strs().optional(), timeoutForControlPlane: duration().optional() },
        goType('v1beta3.APIServer'),
      )
      .optional(),
    controllerManager: z.strictObject(componentV3, goType('v1beta3.ControlPlaneComponent')).optional(),
    scheduler: z.strictObject(componentV3, goType('v1beta3.ControlPlaneComponent')).optional(),
    dns: z.strictObject(imageMeta, goType('v1beta3.DNS')).optional(),
    certificatesDir: str().optional(),
    imageRepository: str().optional(),
    featureGates: boolMap().optional(),
    clusterName: str().optional(),
  },
  goType('v1beta3.ClusterConfiguration'),
);

export const JoinConfigurationV3 = z.strictObject(
  {
    ...TypeMeta,
    nodeRegistration: NodeRegistrationV3.optional(),
    caCertPath: str().optional(),
    discovery: z.strictObject(
      {
        bootstrapToken: bootstrapTokenDiscovery('v1beta3').optional(),
        file: fileDiscovery('v1beta3').optional(),
        tlsBootstrapToken: str().optional(),
        timeout: duration().optional(),
      },
      goType('v1beta3.Discovery'),
    ),
    controlPlane: joinControlPlane('v1beta3').optional(),
    skipPhases: strs().optional(),
    patches: patches('v1beta3').optional(),
  },
  goType('v1beta3.JoinConfiguration'),
);

export const KUBEADM_KINDS = {
  v1beta3: {
    InitConfiguration: InitConfigurationV3,
    ClusterConfiguration: ClusterConfigurationV3,
    JoinConfiguration: JoinConfigurationV3,
  },
  v1beta4: {
    InitConfiguration: InitConfigurationV4,
    ClusterConfiguration: ClusterConfigurationV4,
    JoinConfiguration: JoinConfigurationV4,
    ResetConfiguration: ResetConfigurationV4,
    UpgradeConfiguration: UpgradeConfigurationV4,
  },
} as const;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** v1beta3's map extraArgs become v1beta4's list, sorted by name as kubeadm's conversion does. */
function argsFromMap(v: unknown): unknown {
  if (!isObject(v)) return v;
  return Object.keys(v)
    .sort()
    .map((name) => ({ name, value: v[name] }));
}

function convertComponent(c: unknown): void {
  if (isObject(c) && 'extraArgs' in c) c.extraArgs = argsFromMap(c.extraArgs);
}

/**
 * Converts a validated v1beta3 document (plain JSON) into the v1beta4 shape, as kubeadm's
 * conversion functions do: extraArgs maps become lists, and the fields v1beta4 moved into
 * `timeouts` are carried over.
 */
export function convertV1beta3(kind: string, doc: Json): Json {
  const out = structuredClone(doc);
  out.apiVersion = 'kubeadm.k8s.io/v1beta4';
  if (isObject(out.nodeRegistration)) {
    const nr = out.nodeRegistration;
    if ('kubeletExtraArgs' in nr) nr.kubeletExtraArgs = argsFromMap(nr.kubeletExtraArgs);
  }
  if (kind === 'ClusterConfiguration') {
    convertComponent(out.apiServer);
    convertComponent(out.controllerManager);
    convertComponent(out.scheduler);
    if (isObject(out.etcd)) convertComponent(out.etcd.local);
    // timeoutForControlPlane moved to Init/JoinConfiguration.timeouts; the ClusterConfiguration drops it
    if (isObject(out.apiServer)) delete out.apiServer.timeoutForControlPlane;
  }
  if (kind === 'JoinConfiguration' && isObject(out.discovery)) {
    const timeout = out.discovery.timeout;
    delete out.discovery.timeout;
    if (timeout !== undefined) out.timeouts = { discovery: timeout };
  }
  return out;
}
