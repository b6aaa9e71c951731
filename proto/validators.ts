import { z } from 'zod';

/**
 * The grammars of the fields that reach a host or a rendered file: each accepts its real syntax
 * only (issue 12, finding 6). Nothing here reaches a shell, but an argv element that starts with
 * `-`, a line break in a file or a Cyrillic look-alike in a name is refused at the edge, with the
 * field path, instead of being discovered by the program that reads it.
 *
 * Each grammar is a predicate (`isX`, for table tests and callers outside zod) and a zod schema.
 */

/** C0 and C1 controls, DEL, and the Unicode line and paragraph separators. */
export function hasControlCharacters(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029) return true;
  }
  return false;
}

/** `"a\nb"` for a message: the offending input, quoted and cut, so control characters show. */
export function quoteInput(s: string, max = 80): string {
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}…` : s);
}

// ---------- names ----------

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** RFC 1123 label as Kubernetes uses it (object names, namespaces): lowercase, ≤ 63. */
export function isDns1123Label(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL.test(s);
}

/** RFC 1123 subdomain (host names, node names): dotted labels, ≤ 253. */
export function isDns1123Subdomain(s: string): boolean {
  return s.length >= 1 && s.length <= 253 && s.split('.').every(isDns1123Label);
}

// ---------- Kubernetes labels ----------

const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** A label key: `[prefix/]name`, prefix a DNS subdomain, name ≤ 63 of [A-Za-z0-9_.-] with alphanumeric ends. */
export function isK8sLabelKey(s: string): boolean {
  const slash = s.indexOf('/');
  const [prefix, name] = slash === -1 ? [undefined, s] : [s.slice(0, slash), s.slice(slash + 1)];
  if (prefix !== undefined && !isDns1123Subdomain(prefix)) return false;
  return name.length <= 63 && LABEL_NAME.test(name);
}

/** A label value: empty, or ≤ 63 of [A-Za-z0-9_.-] with alphanumeric ends. */
export function isK8sLabelValue(s: string): boolean {
  return s === '' || (s.length <= 63 && LABEL_NAME.test(s));
}

// ---------- package versions ----------

const DEB_WITH_REVISION = /^(\d{1,9}:)?\d[A-Za-z0-9.+~-]*-[A-Za-z0-9.+~]+$/;
const DEB_NO_REVISION = /^(\d{1,9}:)?\d[A-Za-z0-9.+~]*$/;

/**
 * Debian policy 5.6.12: `[epoch:]upstream[-revision]`; upstream starts with a digit and holds a
 * hyphen only when a revision follows; the revision has no hyphen.
 */
export function isDebianVersion(s: string): boolean {
  return s.length <= 128 && (DEB_WITH_REVISION.test(s) || DEB_NO_REVISION.test(s));
}

const RPM_VERSION = /^(\d{1,9}:)?[A-Za-z0-9][A-Za-z0-9._+~^]*(-[A-Za-z0-9][A-Za-z0-9._+~^]*)?$/;

/** RPM `[epoch:]version[-release]`; version and release start alphanumeric and hold no hyphen. */
export function isRpmVersion(s: string): boolean {
  return s.length <= 128 && RPM_VERSION.test(s);
}

// ---------- host-side names ----------

const UNIT_NAME = /^[A-Za-z0-9_][A-Za-z0-9:_.-]*(@[A-Za-z0-9:_.-]*)?\.(service|socket|timer)$/;

/** A systemd service, socket or timer name (systemd.unit(5)), never starting like an option. */
export function isSystemdUnitName(s: string): boolean {
  return s.length <= 255 && UNIT_NAME.test(s);
}

const SYSCTL_KEY = /^[a-z0-9_]+(\.[A-Za-z0-9_][A-Za-z0-9_-]*)+$/;

/** A dotted sysctl key (`net.ipv4.ip_forward`); no segment starts with `-`, no slashes. */
export function isSysctlKey(s: string): boolean {
  return s.length <= 255 && SYSCTL_KEY.test(s);
}

const INTERFACE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;

/** A Linux network interface name: ≤ 15 (IFNAMSIZ - 1) ASCII characters, no `/`, `:` or space. */
export function isInterfaceName(s: string): boolean {
  return INTERFACE_NAME.test(s);
}

const PREFLIGHT_ERROR_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A kubeadm preflight check name for --ignore-preflight-errors (`Port-6443`, `Swap`, `all`). */
export function isPreflightErrorName(s: string): boolean {
  return PREFLIGHT_ERROR_NAME.test(s);
}

// ---------- free text that ends up in argv or a file ----------

const FLAG_VALUE = /^[\x21-\x7e]*$/;

/**
 * Why a command-line flag value is refused, or undefined. Printable ASCII without spaces (kubeadm
 * writes kubelet flags to an environment file that systemd splits on whitespace), without quotes or
 * backslashes (they end that file's quoting), and without `$(` (Kubernetes expands `$(VAR)` in a
 * static pod's args).
 */
export function flagValueProblem(s: string): string | undefined {
  if (s.length > 1024) return 'is longer than 1024 characters';
  if (!FLAG_VALUE.test(s)) return 'must be printable ASCII without spaces or control characters';
  if (/["'`\\]/.test(s)) return 'must not contain quotes or backslashes';
  if (s.includes('$(')) return 'must not contain "$(" (Kubernetes expands $(VAR) in container args)';
  return undefined;
}

// ---------- URLs ----------

/** RFC 3986's characters: unreserved, reserved and `%`. */
const URL_CHARS = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]+$/;

/**
 * Why a URL is refused, or undefined: it must be RFC 3986 ASCII (no spaces, quotes or look-alikes),
 * parse with the WHATWG URL parser (the one the controller and the agent use later), use one of
 * `protocols`, and carry no credentials or fragment.
 */
export function urlProblem(s: string, protocols: readonly string[]): string | undefined {
  const want = protocols.map((p) => `${p}//`).join(' or ');
  if (s.length > 2048) return `${quoteInput(s)} is longer than 2048 characters`;
  if (!URL_CHARS.test(s)) return `${quoteInput(s)} must be a URL of printable ASCII without spaces or quotes`;
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return `${quoteInput(s)} is not a valid URL`;
  }
  if (!protocols.includes(url.protocol)) return `${quoteInput(s)} must be an ${want} URL`;
  if (url.hostname === '') return `${quoteInput(s)} has no host`;
  if (url.username !== '' || url.password !== '')
    return `${quoteInput(s)} must not carry a user name or password`;
  if (s.includes('#')) return `${quoteInput(s)} must not have a #fragment`;
  return undefined;
}

// ---------- zod schemas ----------

const grammar = (test: (s: string) => boolean, what: string, max: number): z.ZodString =>
  z
    .string()
    .max(max)
    .refine(test, { error: (issue) => `${quoteInput(String(issue.input))} ${what}` });

export const Dns1123Label = grammar(isDns1123Label, 'must be a lowercase RFC 1123 label', 63);
export const Dns1123Subdomain = grammar(isDns1123Subdomain, 'must be a lowercase RFC 1123 host name', 253);
export const K8sLabelKey = grammar(
  isK8sLabelKey,
  'must be a Kubernetes label key ([prefix/]name of [A-Za-z0-9_.-], alphanumeric at both ends)',
  317,
);
export const K8sLabelValue = grammar(
  isK8sLabelValue,
  'must be a Kubernetes label value (empty, or up to 63 of [A-Za-z0-9_.-], alphanumeric at both ends)',
  63,
);
export const K8sLabels = z.record(K8sLabelKey, K8sLabelValue);

export const PackageVersion = grammar(
  (s) => isDebianVersion(s) || isRpmVersion(s),
  'must be a Debian or RPM package version like 1.31.2-1.1',
  128,
);
export const SystemdUnitName = grammar(
  isSystemdUnitName,
  'must be a systemd unit name like kubelet.service',
  255,
);
export const SysctlKey = grammar(isSysctlKey, 'must be a sysctl key like net.ipv4.ip_forward', 255);
export const InterfaceName = grammar(isInterfaceName, 'must be a network interface name like eth0', 15);
export const PreflightErrorName = grammar(
  isPreflightErrorName,
  'must be a kubeadm preflight check name like Port-6443',
  128,
);

/** A flag value (extraArgs, kube-vip, calico settings): see flagValueProblem. */
export const FlagValue = z.string().superRefine((s, ctx) => {
  const problem = flagValueProblem(s);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `${quoteInput(s)} ${problem}` });
});

/** Text of one line, any script, but no control characters or line breaks. */
export const OneLineText = (max: number): z.ZodString =>
  z
    .string()
    .max(max)
    .refine((s) => !hasControlCharacters(s), {
      error: (issue) =>
        `${quoteInput(String(issue.input))} must not contain control characters or line breaks`,
    });

const urlSchema = (protocols: readonly string[]): z.ZodType<string> =>
  z.string().superRefine((s, ctx) => {
    const problem = urlProblem(s, protocols);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });

export const HttpUrl = urlSchema(['https:', 'http:']);
export const HttpsUrl = urlSchema(['https:']);
