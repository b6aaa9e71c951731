import { createHash } from 'node:crypto';
import { parseAllDocuments } from 'yaml';
import type { ClusterState, ResourceRecord } from './cluster-state.js';
import { cniOf } from './cni.js';
import { isDns1123Subdomain } from './k8s-values.js';

/**
 * What the API server does with `kubectl apply`: maps each object's apiVersion/kind to a resource
 * (built-in, or defined by a CustomResourceDefinition applied earlier), checks the namespace exists,
 * applies the API server's validation to workloads, and records the object. Pure over the state.
 */

interface Kind {
  versions: string[];
  namespaced: boolean;
}

/** group -> kind -> served versions and scope, for the built-in resources a CNI or add-on manifest uses. */
const BUILTIN: Record<string, Record<string, Kind>> = {
  '': Object.fromEntries(
    [
      ['Namespace', false],
      ['Node', false],
      ['PersistentVolume', false],
      ['ConfigMap', true],
      ['Secret', true],
      ['Service', true],
      ['ServiceAccount', true],
      ['Pod', true],
      ['PersistentVolumeClaim', true],
      ['Endpoints', true],
      ['LimitRange', true],
      ['ResourceQuota', true],
    ].map(([k, ns]) => [k, { versions: ['v1'], namespaced: ns as boolean }]),
  ),
  apps: Object.fromEntries(
    ['Deployment', 'DaemonSet', 'StatefulSet', 'ReplicaSet', 'ControllerRevision'].map((k) => [
      k,
      { versions: ['v1'], namespaced: true },
    ]),
  ),
  batch: { Job: { versions: ['v1'], namespaced: true }, CronJob: { versions: ['v1'], namespaced: true } },
  'rbac.authorization.k8s.io': {
    Role: { versions: ['v1'], namespaced: true },
    RoleBinding: { versions: ['v1'], namespaced: true },
    ClusterRole: { versions: ['v1'], namespaced: false },
    ClusterRoleBinding: { versions: ['v1'], namespaced: false },
  },
  'apiextensions.k8s.io': { CustomResourceDefinition: { versions: ['v1'], namespaced: false } },
  policy: { PodDisruptionBudget: { versions: ['v1'], namespaced: true } },
  'networking.k8s.io': {
    NetworkPolicy: { versions: ['v1'], namespaced: true },
    Ingress: { versions: ['v1'], namespaced: true },
    IngressClass: { versions: ['v1'], namespaced: false },
  },
  'storage.k8s.io': {
    StorageClass: { versions: ['v1'], namespaced: false },
    CSIDriver: { versions: ['v1'], namespaced: false },
    CSINode: { versions: ['v1'], namespaced: false },
    VolumeAttachment: { versions: ['v1'], namespaced: false },
  },
  'scheduling.k8s.io': { PriorityClass: { versions: ['v1'], namespaced: false } },
  'admissionregistration.k8s.io': {
    MutatingWebhookConfiguration: { versions: ['v1'], namespaced: false },
    ValidatingWebhookConfiguration: { versions: ['v1'], namespaced: false },
    ValidatingAdmissionPolicy: { versions: ['v1'], namespaced: false },
    ValidatingAdmissionPolicyBinding: { versions: ['v1'], namespaced: false },
  },
  'apiregistration.k8s.io': { APIService: { versions: ['v1'], namespaced: false } },
  'coordination.k8s.io': { Lease: { versions: ['v1'], namespaced: true } },
  'node.k8s.io': { RuntimeClass: { versions: ['v1'], namespaced: false } },
  'discovery.k8s.io': { EndpointSlice: { versions: ['v1'], namespaced: true } },
  autoscaling: { HorizontalPodAutoscaler: { versions: ['v1', 'v2'], namespaced: true } },
  'certificates.k8s.io': { CertificateSigningRequest: { versions: ['v1'], namespaced: false } },
  'flowcontrol.apiserver.k8s.io': {
    FlowSchema: { versions: ['v1', 'v1beta3'], namespaced: false },
    PriorityLevelConfiguration: { versions: ['v1', 'v1beta3'], namespaced: false },
  },
};

const BUILTIN_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.indexOf('/');
  return i < 0
    ? { group: '', version: apiVersion }
    : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

function resolveKind(state: ClusterState, apiVersion: string, kind: string): Kind | undefined {
  const { group, version } = splitApiVersion(apiVersion);
  const builtin = BUILTIN[group]?.[kind];
  if (builtin) return builtin.versions.includes(version) ? builtin : undefined;
  const crd = state.resources.find((r) => r.defines && r.defines.group === group && r.defines.kind === kind);
  if (crd?.defines && crd.defines.versions.includes(version))
    return { versions: crd.defines.versions, namespaced: crd.defines.namespaced };
  return undefined;
}

/** A resource's printed name: "daemonset.apps/calico-node", "namespace/tigera-operator". */
export function resourceRef(apiVersion: string, kind: string, name: string): string {
  const { group } = splitApiVersion(apiVersion);
  return `${kind.toLowerCase()}${group ? `.${group}` : ''}/${name}`;
}

/** Structural checks the API server makes on workload objects (selector, template labels, containers). */
function workloadErrors(doc: Json): string[] {
  const kind = str(doc.kind);
  if (!['Deployment', 'DaemonSet', 'StatefulSet', 'ReplicaSet', 'Job'].includes(kind)) return [];
  const errors: string[] = [];
  const spec = isObject(doc.spec) ? doc.spec : undefined;
  if (!spec) return ['spec.selector: Required value', 'spec.template.spec.containers: Required value'];
  const template = isObject(spec.template) ? spec.template : {};
  const labels =
    isObject(template.metadata) && isObject(template.metadata.labels) ? template.metadata.labels : {};
  if (kind !== 'Job') {
    const selector = isObject(spec.selector) ? spec.selector : undefined;
    const matchLabels = selector && isObject(selector.matchLabels) ? selector.matchLabels : undefined;
    if (!selector || (!matchLabels && !Array.isArray(selector.matchExpressions)))
      errors.push('spec.selector: Required value');
    else if (matchLabels && Object.entries(matchLabels).some(([k, v]) => labels[k] !== v)) {
      errors.push(
        `spec.template.metadata.labels: Invalid value: ${JSON.stringify(labels)}: \`selector\` does not match template \`labels\``,
      );
    }
  }
  const podSpec = isObject(template.spec) ? template.spec : {};
  const containers = Array.isArray(podSpec.containers) ? podSpec.containers : [];
  if (containers.length === 0) errors.push('spec.template.spec.containers: Required value');
  containers.forEach((c, i) => {
    if (!isObject(c) || !str(c.name)) errors.push(`spec.template.spec.containers[${i}].name: Required value`);
    if (!isObject(c) || !str(c.image))
      errors.push(`spec.template.spec.containers[${i}].image: Required value`);
  });
  return errors;
}

export interface ApplyOutcome {
  lines: string[];
  errors: string[];
  /** a CNI this apply installed, if any */
  cni: string | undefined;
}

/** Parses a manifest file into objects (List kinds flattened), or returns kubectl's error. */
export function parseManifest(text: string, file: string): { objects: Json[] } | { error: string } {
  const objects: Json[] = [];
  for (const d of parseAllDocuments(text, { version: '1.1' })) {
    const e = d.errors[0];
    if (e)
      return {
        error: `error: error parsing ${file}: error converting YAML to JSON: yaml: ${e.message.split('\n')[0] ?? ''}`,
      };
    const value: unknown = d.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) continue;
    if (!isObject(value))
      return {
        error: `error: error validating "${file}": error validating data: invalid object to validate`,
      };
    if (str(value.kind).endsWith('List') && Array.isArray(value.items)) {
      for (const item of value.items) if (isObject(item)) objects.push(item);
    } else {
      objects.push(value);
    }
  }
  return { objects };
}

/**
 * Applies objects to the state in order, as kubectl does one by one: earlier objects (a Namespace)
 * can serve later ones, but kinds resolve only against CRDs the API server already served before
 * this command (CRD and custom resource in one file fail the first time, as with kubectl).
 */
export function applyObjects(
  state: ClusterState,
  objects: readonly Json[],
  file: string,
  now: number,
): ApplyOutcome {
  const lines: string[] = [];
  const errors: string[] = [];
  let cni: string | undefined;
  const known = { ...state, resources: [...state.resources] };
  for (const doc of objects) {
    const apiVersion = str(doc.apiVersion);
    const kind = str(doc.kind);
    const missing = [...(apiVersion ? [] : ['apiVersion not set']), ...(kind ? [] : ['kind not set'])];
    if (missing.length > 0) {
      errors.push(
        `error: error validating "${file}": error validating data: [${missing.join(', ')}]; if you choose to ignore these errors, turn validation off with --validate=false`,
      );
      continue;
    }
    const metadata = isObject(doc.metadata) ? doc.metadata : {};
    const name = str(metadata.name);
    const mapping = resolveKind(known, apiVersion, kind);
    const namespace = mapping?.namespaced ? str(metadata.namespace) || 'default' : null;
    if (!mapping) {
      errors.push(
        `error: resource mapping not found for name: "${name}" namespace: "${str(metadata.namespace)}" from "${file}": no matches for kind "${kind}" in version "${apiVersion}"\nensure CRDs are installed first`,
      );
      continue;
    }
    if (!name) {
      errors.push(
        `error: error when retrieving current configuration of:\nResource: "${apiVersion}, Kind=${kind}"\nName: "", Namespace: "${namespace ?? ''}"\nfrom server for: "${file}": resource name may not be empty`,
      );
      continue;
    }
    if (
      namespace &&
      !BUILTIN_NAMESPACES.includes(namespace) &&
      !state.resources.some((r) => r.kind === 'Namespace' && r.name === namespace)
    ) {
      errors.push(
        `Error from server (NotFound): error when creating "${file}": namespaces "${namespace}" not found`,
      );
      continue;
    }
    const nameOk =
      kind === 'Namespace'
        ? /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) && name.length <= 63
        : !['Deployment', 'DaemonSet', 'StatefulSet'].includes(kind) || isDns1123Subdomain(name);
    const invalid = [
      ...(nameOk
        ? []
        : [
            `metadata.name: Invalid value: "${name}": a lowercase RFC 1123 ${kind === 'Namespace' ? 'label' : 'subdomain'} must consist of lower case alphanumeric characters, '-' or '.'`,
          ]),
      ...workloadErrors(doc),
    ];
    if (invalid.length > 0) {
      const { group } = splitApiVersion(apiVersion);
      const detail = invalid.length === 1 ? (invalid[0] ?? '') : `[${invalid.join(', ')}]`;
      errors.push(
        `Error from server (Invalid): error when creating "${file}": ${kind}${group ? `.${group}` : ''} "${name}" is invalid: ${detail}`,
      );
      continue;
    }
    const sha256 = createHash('sha256').update(JSON.stringify(doc)).digest('hex');
    const existing = state.resources.find(
      (r) =>
        r.apiVersion.split('/')[0] === apiVersion.split('/')[0] &&
        r.kind === kind &&
        r.namespace === namespace &&
        r.name === name,
    );
    const record: ResourceRecord = { apiVersion, kind, namespace, name, sha256, appliedAt: now };
    if (kind === 'CustomResourceDefinition') {
      const spec = isObject(doc.spec) ? doc.spec : {};
      const names = isObject(spec.names) ? spec.names : {};
      const versions = Array.isArray(spec.versions)
        ? spec.versions
            .filter(isObject)
            .filter((v) => v.served !== false)
            .map((v) => str(v.name))
        : [];
      record.defines = {
        group: str(spec.group),
        kind: str(names.kind),
        versions,
        namespaced: spec.scope !== 'Cluster',
      };
    }
    state.resources = state.resources.filter((r) => r !== existing);
    state.resources.push(record);
    const ref = resourceRef(apiVersion, kind, name);
    lines.push(`${ref} ${!existing ? 'created' : existing.sha256 === sha256 ? 'unchanged' : 'configured'}`);
    cni ??= cniOf(doc);
  }
  return { lines, errors, cni };
}
