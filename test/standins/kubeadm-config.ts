import { parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import {
  ClusterConfigurationV4,
  GO_TYPE_MARK,
  InitConfigurationV4,
  JoinConfigurationV4,
  KUBEADM_KINDS,
  convertV1beta3,
  type ClusterConfiguration,
  type InitConfiguration,
  type JoinConfiguration,
  type ResetConfiguration,
  type UpgradeConfiguration,
} from './kubeadm-types.js';
import {
  KUBELET_FIELD_SINCE_MINOR,
  KubeProxyConfigurationV1alpha1,
  KubeletConfigurationV1beta1,
  type KubeProxyConfiguration,
  type KubeletConfiguration,
} from './component-types.js';
import type { Semver } from './k8s-values.js';
import {
  validateClusterConfiguration,
  validateInitConfiguration,
  validateJoinConfiguration,
  validateKubeProxyConfiguration,
  validateKubeletConfiguration,
  validateResetConfiguration,
  validateUpgradeConfiguration,
  aggregate,
} from './kubeadm-validate.js';

/**
 * Loads a kubeadm --config file the way kubeadm does: YAML documents split on `---`, each routed by
 * apiVersion/kind, API versions gated by the kubeadm version (v1beta4 from 1.31, v1beta3 until
 * 1.35), strict decoding, then kubeadm's semantic validation. Pure: errors are returned as text.
 */

export type ConfigPurpose = 'init' | 'join' | 'reset' | 'upgrade' | 'validate';

export interface LoadedConfig {
  init?: InitConfiguration;
  cluster?: ClusterConfiguration;
  join?: JoinConfiguration;
  reset?: ResetConfiguration;
  upgrade?: UpgradeConfiguration;
  kubelet?: KubeletConfiguration;
  kubeProxy?: KubeProxyConfiguration;
  /** the kubeadm API version each kind was written in */
  apiVersions: Partial<Record<string, string>>;
}

export type LoadResult =
  { ok: true; config: LoadedConfig; warnings: string[] } | { ok: false; error: string; warnings: string[] };

const KUBEADM_GROUP = 'kubeadm.k8s.io';
const KUBELET_GV = 'kubelet.config.k8s.io/v1beta1';
const KUBEPROXY_GV = 'kubeproxy.config.k8s.io/v1alpha1';
const SCHEME_KUBEADM = 'k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/scheme/scheme.go:31';
const SCHEME_COMPONENTS = 'k8s.io/kubernetes/cmd/kubeadm/app/componentconfigs/scheme.go:28';
/** the stand-in is stricter than kubeadm in a few places; its messages say so */
const STRICTER = 'the kctl stand-in treats this as an error; kubeadm init/join would only warn and ignore it';

const KINDS_FOR: Record<ConfigPurpose, readonly string[]> = {
  init: ['InitConfiguration', 'ClusterConfiguration', 'KubeletConfiguration', 'KubeProxyConfiguration'],
  join: ['JoinConfiguration'],
  reset: ['ResetConfiguration'],
  upgrade: ['UpgradeConfiguration'],
  validate: [
    'InitConfiguration',
    'ClusterConfiguration',
    'JoinConfiguration',
    'ResetConfiguration',
    'UpgradeConfiguration',
    'KubeletConfiguration',
    'KubeProxyConfiguration',
  ],
};

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Go leaves a field at its zero value for `key: null`; dropping nulls gives the same meaning here. */
function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (!isObject(v)) return v;
  const out: Json = {};
  for (const [k, val] of Object.entries(v)) if (val !== null) out[k] = dropNulls(val);
  return out;
}

export function gvkString(apiVersion: string, kind: string): string {
  const slash = apiVersion.indexOf('/');
  const group = slash >= 0 ? apiVersion.slice(0, slash) : '';
  const version = slash >= 0 ? apiVersion.slice(slash + 1) : apiVersion;
  return `schema.GroupVersionKind{Group:"${group}", Version:"${version}", Kind:"${kind}"}`;
}

function jsonKind(input: unknown): string {
  if (Array.isArray(input)) return 'array';
  if (input === null) return 'null';
  if (typeof input === 'object') return 'object';
  if (typeof input === 'boolean') return 'bool';
  if (typeof input === 'number') return `number ${String(input)}`;
  return typeof input;
}

function pathText(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else s += s === '' ? String(p) : `.${String(p)}`;
  }
  return s;
}

/** Renders zod issues like Go's JSON decoder (type errors) and apimachinery's strict decoder (unknown fields). */
export function describeDecodeIssues(kind: string, issues: readonly z.core.$ZodIssue[]): string {
  const typeIssue = issues.find((i) => i.code === 'invalid_type');
  if (typeIssue && typeIssue.code === 'invalid_type') {
    if (typeIssue.input === undefined) return `${pathText(typeIssue.path)}: Required value`;
    const fieldPath = typeIssue.path.filter((p) => typeof p !== 'number').map(String);
    const goTypeName = typeIssue.message.startsWith(GO_TYPE_MARK)
      ? typeIssue.message.slice(GO_TYPE_MARK.length)
      : typeIssue.expected;
    return `json: cannot unmarshal ${jsonKind(typeIssue.input)} into Go struct field ${[kind, ...fieldPath].join('.')} of type ${goTypeName}`;
  }
  const unknown: string[] = [];
  const other: string[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) unknown.push(`unknown field "${pathText([...issue.path, key])}"`);
    } else {
      other.push(issue.code === 'custom' ? issue.message : `${pathText(issue.path)}: ${issue.message}`);
    }
  }
  if (unknown.length > 0) return `strict decoding error: ${unknown.join(', ')}`;
  return other.join(', ');
}

function decode<T>(
  schema: z.ZodType<T>,
  doc: unknown,
  apiVersion: string,
  kind: string,
): { ok: true; value: T } | { ok: false; error: string } {
  const r = schema.safeParse(doc, { reportInput: true });
  if (r.success) return { ok: true, value: r.data };
  return {
    ok: false,
    error: `error unmarshaling configuration ${gvkString(apiVersion, kind)}: ${describeDecodeIssues(kind, r.error.issues)}`,
  };
}

interface RawDoc {
  apiVersion: string;
  kind: string;
  body: Json;
}

function splitDocuments(text: string): { docs: RawDoc[] } | { error: string } {
  const docs: RawDoc[] = [];
  // sigs.k8s.io/yaml decodes with YAML 1.1 rules (yes/no/on/off are booleans)
  for (const d of parseAllDocuments(text, { version: '1.1', uniqueKeys: true, prettyErrors: false })) {
    const e = d.errors[0];
    if (e) {
      const line = e.linePos?.[0].line;
      return {
        error: `error converting YAML to JSON: yaml: ${line ? `line ${line}: ` : ''}${e.message.split('\n')[0] ?? ''}`,
      };
    }
    const value = dropNulls(d.toJS({ maxAliasCount: 100 }));
    if (value === null || value === undefined) continue;
    if (!isObject(value)) {
      return {
        error: `error unmarshaling JSON: while decoding JSON: json: cannot unmarshal ${jsonKind(value)} into Go value of type map[string]interface {}`,
      };
    }
    const apiVersion = typeof value.apiVersion === 'string' ? value.apiVersion : '';
    const kind = typeof value.kind === 'string' ? value.kind : '';
    if (apiVersion === '' || kind === '') {
      const gv = apiVersion.includes('/') ? apiVersion : `/${apiVersion}`;
      return {
        error: `invalid configuration for GroupVersionKind ${gv}, Kind=${kind}: kind and apiVersion is mandatory information that must be specified`,
      };
    }
    docs.push({ apiVersion, kind, body: value });
  }
  return { docs };
}

/** kubeadm's validateSupportedVersion, for the kubeadm version the stand-in claims to be. */
function checkKubeadmApiVersion(
  apiVersion: string,
  kind: string,
  kubeadm: Semver,
  warnings: string[],
): { version: 'v1beta3' | 'v1beta4' } | { error: string } {
  const old: Record<string, string> = {
    'kubeadm.k8s.io/v1alpha1': 'v1.11',
    'kubeadm.k8s.io/v1alpha2': 'v1.12',
    'kubeadm.k8s.io/v1alpha3': 'v1.14',
    'kubeadm.k8s.io/v1beta1': 'v1.15',
    'kubeadm.k8s.io/v1beta2': 'v1.22',
    ...(kubeadm.minor >= 36 ? { 'kubeadm.k8s.io/v1beta3': 'v1.35' } : {}),
  };
  const useKubeadm = old[apiVersion];
  if (useKubeadm) {
    return {
      error: `your configuration file uses an old API spec: "${apiVersion}" (kind: "${kind}"). Please use kubeadm ${useKubeadm} instead and run 'kubeadm config migrate --old-config old.yaml --new-config new.yaml'.`,
    };
  }
  const version = apiVersion.slice(KUBEADM_GROUP.length + 1);
  const registered = version === 'v1beta3' || (version === 'v1beta4' && kubeadm.minor >= 31);
  if (version === 'v1' && kubeadm.minor >= 36) {
    return {
      error: `experimental API spec: "${apiVersion}" (kind: "${kind}") is not allowed. You can use the --allow-experimental-api flag for the command`,
    };
  }
  const kinds: Record<string, unknown> =
    version === 'v1beta3' ? KUBEADM_KINDS.v1beta3 : KUBEADM_KINDS.v1beta4;
  if (!registered || !(kind in kinds)) {
    return {
      error: `no kind "${kind}" is registered for version "${apiVersion}" in scheme "${SCHEME_KUBEADM}"`,
    };
  }
  if (version === 'v1beta3' && kubeadm.minor >= 31) {
    warnings.push(
      `your configuration file uses a deprecated API spec: "${apiVersion}" (kind: "${kind}"). Please use 'kubeadm config migrate --old-config old.yaml --new-config new.yaml', which will write the new, similar spec using a newer API version.`,
    );
  }
  return { version: version === 'v1beta3' ? 'v1beta3' : 'v1beta4' };
}

function decodeKubeadm(
  doc: RawDoc,
  version: 'v1beta3' | 'v1beta4',
): { ok: true; value: Json } | { ok: false; error: string } {
  const kinds: Record<string, z.ZodType<Json>> = version === 'v1beta3'
    ? KUBEADM_KINDS.v1beta3
    : KUBEADM_KINDS.v1beta4;
  const schema = kinds[doc.kind];
  if (!schema)
    return { ok: false, error: `no kind "${doc.kind}" is registered for version "${doc.apiVersion}"` };
  const r = decode(schema, doc.body, doc.apiVersion, doc.kind);
  if (!r.ok) return r;
  return { ok: true, value: version === 'v1beta3' ? convertV1beta3(doc.kind, r.value) : r.value };
}

export function loadKubeadmConfig(
  text: string,
  options: { kubeadmVersion: Semver; purpose: ConfigPurpose },
): LoadResult {
  const warnings: string[] = [];
  const fail = (error: string): LoadResult => ({ ok: false, error, warnings });
  const split = splitDocuments(text);
  if ('error' in split) return fail(split.error);

  const seen = new Set<string>();
  const config: LoadedConfig = { apiVersions: {} };
  const wanted = KINDS_FOR[options.purpose];
  const kubeadm = options.kubeadmVersion;

  for (const doc of split.docs) {
    if (seen.has(doc.kind))
      return fail(`invalid configuration: kind "${doc.kind}" is specified twice in YAML file`);
    seen.add(doc.kind);
    const isKubeadm = doc.apiVersion.startsWith(`${KUBEADM_GROUP}/`);
    const isComponent =
      doc.apiVersion.startsWith('kubelet.config.k8s.io/') ||
      doc.apiVersion.startsWith('kubeproxy.config.k8s.io/');
    if (!isKubeadm && !isComponent) {
      return fail(
        `[config] WARNING: Ignored YAML document with GroupVersionKind ${doc.apiVersion}, Kind=${doc.kind} (${STRICTER})`,
      );
    }
    if (!wanted.includes(doc.kind)) {
      warnings.push(
        `[config] WARNING: Ignored configuration document with GroupVersionKind ${doc.apiVersion}, Kind=${doc.kind}`,
      );
      continue;
    }
    if (isKubeadm) {
      const v = checkKubeadmApiVersion(doc.apiVersion, doc.kind, kubeadm, warnings);
      if ('error' in v) return fail(v.error);
      const r = decodeKubeadm(doc, v.version);
      if (!r.ok) return fail(r.error);
      config.apiVersions[doc.kind] = doc.apiVersion;
      const target = {
        InitConfiguration: InitConfigurationV4,
        ClusterConfiguration: ClusterConfigurationV4,
        JoinConfiguration: JoinConfigurationV4,
      } as const;
      // the converted document is re-read through the v1beta4 schema, which types it
      switch (doc.kind) {
        case 'InitConfiguration':
          config.init = target.InitConfiguration.parse(r.value);
          break;
        case 'ClusterConfiguration':
          config.cluster = target.ClusterConfiguration.parse(r.value);
          break;
        case 'JoinConfiguration':
          config.join = target.JoinConfiguration.parse(r.value);
          break;
        case 'ResetConfiguration':
          config.reset = KUBEADM_KINDS.v1beta4.ResetConfiguration.parse(r.value);
          break;
        case 'UpgradeConfiguration':
          config.upgrade = KUBEADM_KINDS.v1beta4.UpgradeConfiguration.parse(r.value);
          break;
      }
      continue;
    }
    const gv = doc.apiVersion;
    if (doc.kind === 'KubeletConfiguration' && gv === KUBELET_GV) {
      const late = Object.keys(doc.body).filter((k) => (KUBELET_FIELD_SINCE_MINOR[k] ?? 0) > kubeadm.minor);
      if (late.length > 0) {
        return fail(
          `error unmarshaling configuration ${gvkString(gv, doc.kind)}: strict decoding error: ${late
            .map((k) => `unknown field "${k}"`)
            .join(
              ', ',
            )} (the field exists from Kubernetes 1.${String(KUBELET_FIELD_SINCE_MINOR[late[0] ?? ''])})`,
        );
      }
      const r = decode(KubeletConfigurationV1beta1, doc.body, gv, doc.kind);
      if (!r.ok) return fail(r.error);
      config.kubelet = r.value;
      continue;
    }
    if (doc.kind === 'KubeProxyConfiguration' && gv === KUBEPROXY_GV) {
      const r = decode(KubeProxyConfigurationV1alpha1, doc.body, gv, doc.kind);
      if (!r.ok) return fail(r.error);
      config.kubeProxy = r.value;
      continue;
    }
    return fail(`no kind "${doc.kind}" is registered for version "${gv}" in scheme "${SCHEME_COMPONENTS}"`);
  }

  if (options.purpose === 'init' && !config.init && !config.cluster) {
    return fail('no InitConfiguration or ClusterConfiguration kind was found in the YAML file');
  }
  if (options.purpose === 'join' && !config.join)
    return fail('no JoinConfiguration kind was found in the YAML file');
  if (options.purpose === 'reset' && !config.reset)
    return fail('no ResetConfiguration kind was found in the YAML file');
  if (options.purpose === 'upgrade' && !config.upgrade) {
    return fail('no UpgradeConfiguration kind was found in the YAML file');
  }

  const errors = [
    ...(config.init ? validateInitConfiguration(config.init) : []),
    ...(config.cluster ? validateClusterConfiguration(config.cluster, kubeadm) : []),
    ...(config.join ? validateJoinConfiguration(config.join) : []),
    ...(config.reset ? validateResetConfiguration(config.reset) : []),
    ...(config.upgrade ? validateUpgradeConfiguration(config.upgrade) : []),
    ...(config.kubelet ? validateKubeletConfiguration(config.kubelet) : []),
    ...(config.kubeProxy ? validateKubeProxyConfiguration(config.kubeProxy, kubeadm) : []),
  ];
  if (errors.length > 0) return fail(aggregate(errors));
  return { ok: true, config, warnings };
}
