import * as z from 'zod';
import {
  bool,
  boolMap,
  duration,
  float64,
  goType,
  int32,
  int64,
  str,
  strMap,
  strs,
} from './kubeadm-types.js';

/**
 * Component configs kubeadm accepts next to its own kinds (kubeadm-facts.md §4.4), with every
 * top-level field of the upstream Go types (k8s.io/kubelet/config/v1beta1 and
 * k8s.io/kube-proxy/config/v1alpha1) so that an unknown field is an error. Nested structs are
 * strict where kctl renders them and open where only the name matters here.
 */

const open = (name: string) => z.record(z.string(), z.unknown(), goType(name));
const intMap = () => z.record(z.string(), z.unknown(), goType('map[string]string'));

const Logging = z.strictObject(
  {
    format: str().optional(),
    flushFrequency: z.union([str(), int64()]).optional(),
    verbosity: int32().optional(),
    vmodule: z.array(open('v1.VModuleItem'), goType('v1.VModuleConfiguration')).optional(),
    options: open('v1.FormatOptions').optional(),
  },
  goType('v1.LoggingConfiguration'),
);

const Taint = z.strictObject(
  { key: str(), value: str().optional(), effect: str(), timeAdded: str().optional() },
  goType('v1.Taint'),
);

export const KubeletConfigurationV1beta1 = z.strictObject(
  {
    apiVersion: z.string(),
    kind: z.string(),
    enableServer: bool().optional(),
    staticPodPath: str().optional(),
    podLogsDir: str().optional(),
    syncFrequency: duration().optional(),
    fileCheckFrequency: duration().optional(),
    httpCheckFrequency: duration().optional(),
    staticPodURL: str().optional(),
    staticPodURLHeader: z.record(z.string(), strs(), goType('map[string][]string')).optional(),
    address: str().optional(),
    port: int32().optional(),
    readOnlyPort: int32().optional(),
    tlsCertFile: str().optional(),
    tlsPrivateKeyFile: str().optional(),
    tlsCipherSuites: strs().optional(),
    tlsCurvePreferences: z.array(int32(), goType('[]int32')).optional(),
    tlsMinVersion: str().optional(),
    rotateCertificates: bool().optional(),
    serverTLSBootstrap: bool().optional(),
    authentication: z
      .strictObject(
        {
          x509: z
            .strictObject({ clientCAFile: str().optional() }, goType('v1beta1.KubeletX509Authentication'))
            .optional(),
          webhook: z
            .strictObject(
              { enabled: bool().optional(), cacheTTL: duration().optional() },
              goType('v1beta1.KubeletWebhookAuthentication'),
            )
            .optional(),
          anonymous: z
            .strictObject({ enabled: bool().optional() }, goType('v1beta1.KubeletAnonymousAuthentication'))
            .optional(),
        },
        goType('v1beta1.KubeletAuthentication'),
      )
      .optional(),
    authorization: z
      .strictObject(
        {
          mode: str().optional(),
          webhook: z
            .strictObject(
              { cacheAuthorizedTTL: duration().optional(), cacheUnauthorizedTTL: duration().optional() },
              goType('v1beta1.KubeletWebhookAuthorization'),
            )
            .optional(),
        },
        goType('v1beta1.KubeletAuthorization'),
      )
      .optional(),
    registryPullQPS: int32().optional(),
    registryBurst: int32().optional(),
    imagePullCredentialsVerificationPolicy: str().optional(),
    preloadedImagesVerificationAllowlist: strs().optional(),
    eventRecordQPS: int32().optional(),
    eventBurst: int32().optional(),
    enableDebuggingHandlers: bool().optional(),
    enableContentionProfiling: bool().optional(),
    healthzPort: int32().optional(),
    healthzBindAddress: str().optional(),
    oomScoreAdj: int32().optional(),
    clusterDomain: str().optional(),
    clusterDNS: strs().optional(),
    streamingConnectionIdleTimeout: duration().optional(),
    nodeStatusUpdateFrequency: duration().optional(),
    nodeStatusReportFrequency: duration().optional(),
    nodeLeaseDurationSeconds: int32().optional(),
    imageMinimumGCAge: duration().optional(),
    imageMaximumGCAge: duration().optional(),
    imageGCHighThresholdPercent: int32().optional(),
    imageGCLowThresholdPercent: int32().optional(),
    volumeStatsAggPeriod: duration().optional(),
    kubeletCgroups: str().optional(),
    systemCgroups: str().optional(),
    cgroupRoot: str().optional(),
    cgroupsPerQOS: bool().optional(),
    cgroupDriver: str().optional(),
    cpuManagerPolicy: str().optional(),
    singleProcessOOMKill: bool().optional(),
    cpuManagerPolicyOptions: strMap().optional(),
    cpuManagerReconcilePeriod: duration().optional(),
    draManagerReconcilePeriod: duration().optional(),
    memoryManagerPolicy: str().optional(),
    topologyManagerPolicy: str().optional(),
    topologyManagerScope: str().optional(),
    topologyManagerPolicyOptions: strMap().optional(),
    qosReserved: strMap().optional(),
    runtimeRequestTimeout: duration().optional(),
    hairpinMode: str().optional(),
    maxPods: int32().optional(),
    podCIDR: str().optional(),
    podPidsLimit: int64().optional(),
    resolvConf: str().optional(),
    runOnce: bool().optional(),
    cpuCFSQuota: bool().optional(),
    cpuCFSQuotaPeriod: duration().optional(),
    nodeStatusMaxImages: int32().optional(),
    maxOpenFiles: int64().optional(),
    contentType: str().optional(),
    kubeAPIQPS: int32().optional(),
    kubeAPIBurst: int32().optional(),
    serializeImagePulls: bool().optional(),
    maxParallelImagePulls: int32().optional(),
    evictionHard: strMap().optional(),
    evictionSoft: strMap().optional(),
    evictionSoftGracePeriod: strMap().optional(),
    evictionPressureTransitionPeriod: duration().optional(),
    evictionMaxPodGracePeriod: int32().optional(),
    evictionMinimumReclaim: strMap().optional(),
    mergeDefaultEvictionSettings: bool().optional(),
    podsPerCore: int32().optional(),
    enableControllerAttachDetach: bool().optional(),
    protectKernelDefaults: bool().optional(),
    makeIPTablesUtilChains: bool().optional(),
    iptablesMasqueradeBit: int32().optional(),
    iptablesDropBit: int32().optional(),
    featureGates: boolMap().optional(),
    failSwapOn: bool().optional(),
    memorySwap: z
      .strictObject({ swapBehavior: str().optional() }, goType('v1beta1.MemorySwapConfiguration'))
      .optional(),
    containerLogMaxSize: str().optional(),
    containerLogMaxFiles: int32().optional(),
    containerLogMaxWorkers: int32().optional(),
    containerLogMonitorInterval: duration().optional(),
    configMapAndSecretChangeDetectionStrategy: str().optional(),
    systemReserved: strMap().optional(),
    kubeReserved: strMap().optional(),
    reservedSystemCPUs: str().optional(),
    showHiddenMetricsForVersion: str().optional(),
    systemReservedCgroup: str().optional(),
    kubeReservedCgroup: str().optional(),
    enforceNodeAllocatable: strs().optional(),
    allowedUnsafeSysctls: strs().optional(),
    volumePluginDir: str().optional(),
    providerID: str().optional(),
    kernelMemcgNotification: bool().optional(),
    logging: Logging.optional(),
    enableSystemLogHandler: bool().optional(),
    enableSystemLogQuery: bool().optional(),
    shutdownGracePeriod: duration().optional(),
    shutdownGracePeriodCriticalPods: duration().optional(),
    shutdownGracePeriodByPodPriority: z
      .array(
        z.strictObject(
          { priority: int32(), shutdownGracePeriodSeconds: int64() },
          goType('v1beta1.ShutdownGracePeriodByPodPriority'),
        ),
        goType('[]v1beta1.ShutdownGracePeriodByPodPriority'),
      )
      .optional(),
    crashLoopBackOff: z
      .strictObject(
        { maxContainerRestartPeriod: duration().optional() },
        goType('v1beta1.CrashLoopBackOffConfig'),
      )
      .optional(),
    reservedMemory: z
      .array(
        z.strictObject({ numaNode: int32(), limits: intMap() }, goType('v1beta1.MemoryReservation')),
        goType('[]v1beta1.MemoryReservation'),
      )
      .optional(),
    enableProfilingHandler: bool().optional(),
    enableDebugFlagsHandler: bool().optional(),
    seccompDefault: bool().optional(),
    memoryThrottlingFactor: float64().optional(),
    memoryReservationPolicy: str().optional(),
    registerWithTaints: z.array(Taint, goType('[]v1.Taint')).optional(),
    registerNode: bool().optional(),
    tracing: z
      .strictObject(
        { endpoint: str().optional(), samplingRatePerMillion: int32().optional() },
        goType('v1.TracingConfiguration'),
      )
      .optional(),
    localStorageCapacityIsolation: bool().optional(),
    containerRuntimeEndpoint: str().optional(),
    imageServiceEndpoint: str().optional(),
    failCgroupV1: bool().optional(),
    userNamespaces: z
      .strictObject({ idsPerPod: int64().optional() }, goType('v1beta1.UserNamespaces'))
      .optional(),
  },
  goType('v1beta1.KubeletConfiguration'),
);
export type KubeletConfiguration = z.infer<typeof KubeletConfigurationV1beta1>;

/**
 * Kubelet fields that arrived after the oldest minor kctl supports: a kubelet older than this
 * rejects the field as unknown (strict decoding).
 */
export const KUBELET_FIELD_SINCE_MINOR: Record<string, number> = {
  failCgroupV1: 31,
  singleProcessOOMKill: 32,
  crashLoopBackOff: 32,
  imagePullCredentialsVerificationPolicy: 33,
  preloadedImagesVerificationAllowlist: 33,
  mergeDefaultEvictionSettings: 34,
};

export const KubeProxyConfigurationV1alpha1 = z.strictObject(
  {
    apiVersion: z.string(),
    kind: z.string(),
    featureGates: boolMap().optional(),
    clientConnection: z
      .strictObject(
        {
          kubeconfig: str().optional(),
          acceptContentTypes: str().optional(),
          contentType: str().optional(),
          qps: float64().optional(),
          burst: int32().optional(),
        },
        goType('v1alpha1.ClientConnectionConfiguration'),
      )
      .optional(),
    logging: Logging.optional(),
    hostnameOverride: str().optional(),
    bindAddress: str().optional(),
    healthzBindAddress: str().optional(),
    metricsBindAddress: str().optional(),
    bindAddressHardFail: bool().optional(),
    enableProfiling: bool().optional(),
    showHiddenMetricsForVersion: str().optional(),
    mode: str().optional(),
    iptables: z
      .strictObject(
        {
          masqueradeBit: int32().optional(),
          masqueradeAll: bool().optional(),
          localhostNodePorts: bool().optional(),
          snatNodeInternalIP: bool().optional(),
          syncPeriod: duration().optional(),
          minSyncPeriod: duration().optional(),
        },
        goType('v1alpha1.KubeProxyIPTablesConfiguration'),
      )
      .optional(),
    ipvs: z
      .strictObject(
        {
          syncPeriod: duration().optional(),
          minSyncPeriod: duration().optional(),
          scheduler: str().optional(),
          excludeCIDRs: strs().optional(),
          strictARP: bool().optional(),
          tcpTimeout: duration().optional(),
          tcpFinTimeout: duration().optional(),
          udpTimeout: duration().optional(),
        },
        goType('v1alpha1.KubeProxyIPVSConfiguration'),
      )
      .optional(),
    nftables: z
      .strictObject(
        {
          masqueradeBit: int32().optional(),
          masqueradeAll: bool().optional(),
          syncPeriod: duration().optional(),
          minSyncPeriod: duration().optional(),
        },
        goType('v1alpha1.KubeProxyNFTablesConfiguration'),
      )
      .optional(),
    winkernel: open('v1alpha1.KubeProxyWinkernelConfiguration').optional(),
    detectLocalMode: str().optional(),
    detectLocal: z
      .strictObject(
        { bridgeInterface: str().optional(), interfaceNamePrefix: str().optional() },
        goType('v1alpha1.DetectLocalConfiguration'),
      )
      .optional(),
    clusterCIDR: str().optional(),
    nodePortAddresses: strs().optional(),
    oomScoreAdj: int32().optional(),
    conntrack: z
      .strictObject(
        {
          maxPerCore: int32().optional(),
          min: int32().optional(),
          tcpEstablishedTimeout: duration().optional(),
          tcpCloseWaitTimeout: duration().optional(),
          tcpBeLiberal: bool().optional(),
          udpTimeout: duration().optional(),
          udpStreamTimeout: duration().optional(),
        },
        goType('v1alpha1.KubeProxyConntrackConfiguration'),
      )
      .optional(),
    configSyncPeriod: duration().optional(),
    portRange: str().optional(),
    windowsRunAsService: bool().optional(),
  },
  goType('v1alpha1.KubeProxyConfiguration'),
);
export type KubeProxyConfiguration = z.infer<typeof KubeProxyConfigurationV1alpha1>;
