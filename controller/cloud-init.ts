import { createHash, X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { stringify } from 'yaml';
import { HostRole } from '../proto/checks.js';
import { KctlError, describeZodError } from '../proto/errors.js';

/**
 * `#cloud-config` user-data that puts the kctl agent on a fresh host (`kctl cloud-init`).
 *
 * How the agent binary gets there, and why this way: the controller's CA certificate is written
 * next to agent.yaml, and curl downloads the binary from the controller trusting that CA only
 * (`--cacert` plus an empty `--capath`: Debian's curl would otherwise also trust /etc/ssl/certs,
 * S3). The download is then checked with `sha256sum --check` against the hash in this user-data
 * before it is installed, so a wrong file is refused even if TLS were somehow defeated; no
 * `--insecure` anywhere. The steps run as one oneshot systemd unit, whose ExecStart= lines are
 * argv lists run in order that stop at the first failure (cloud-init's runcmd would carry on after
 * a failed checksum), and log to the journal (`journalctl -u kctl-agent-install`).
 */

export const AGENT_BINARY_PATH = '/usr/local/bin/kctl-agent';
export const AGENT_CONFIG_PATH = '/etc/kctl/agent.yaml';
export const CONTROLLER_CA_PATH = '/etc/kctl/controller-ca.pem';
export const AGENT_CHECKSUM_PATH = '/etc/kctl/kctl-agent.sha256';
const DOWNLOAD_DIR = '/var/lib/kctl-agent-install';
const DOWNLOAD_PATH = `${DOWNLOAD_DIR}/kctl-agent-linux-x64`;
/** a RuntimeDirectory= of the installer unit: always empty, so curl's --capath adds no CA */
const EMPTY_CA_DIR = '/run/kctl-agent-install';

/** Must stay byte-identical to packaging/systemd/kctl-agent.service (a test compares them). */
export const AGENT_UNIT = `# kctl agent: takes typed commands from the kctl controller and converges this host.
# Hardening follows docs/install.md ("systemd hardening"): every option below says why it is
# set, and the options left out on purpose are listed at the end with the reason.
# The agent runs dpkg/apt, modprobe, sysctl and kubeadm as its children and writes under /etc,
# so it keeps root and a writable /usr, /etc, /proc/sys and kernel modules.

[Unit]
# Shown by systemctl status and in the journal.
Description=kctl agent (converges this host for the kctl controller)
# The agent connects out to the controller; wait until the network is configured.
Wants=network-online.target
# Start only after the network is up, so the first connection attempt can succeed.
After=network-online.target
# A package install enables the unit before any config exists: skip (not fail) until it is written.
ConditionPathExists=/etc/kctl/agent.yaml
# Never stop restarting: a host whose agent gave up can only be repaired by hand (there is no SSH path).
StartLimitIntervalSec=0

[Service]
# The service is up once the binary has been executed; a missing binary fails the start job.
Type=exec
# The single-file agent (no Node needed on the host); install.sh and cloud-init put it here.
ExecStart=/usr/local/bin/kctl-agent --config /etc/kctl/agent.yaml
# One V8 worker thread instead of four: fewer threads, a little less memory (docs/benchmarks.md).
Environment=NODE_OPTIONS=--v8-pool-size=1
# Come back after any exit, clean or not: the agent is the host's only management path.
Restart=always
# Pause between restarts so a crash loop does not flood the journal or the controller.
RestartSec=5s
# On stop or restart signal only the agent itself. Its children (dpkg, apt, kubeadm) keep running:
# execa would otherwise see them killed with the agent, and a dpkg killed mid-install leaves the
# host broken (security.md, reliability rules). The restarted agent re-attaches to their result.
KillMode=process
# SIGTERM lets the agent close its connection and journal cleanly; it exits within a second or two.
TimeoutStopSec=30s
# Logs are JSON lines on stdout; journald stores them (journalctl -u kctl-agent -o cat).
StandardOutput=journal
# Errors (config problems before the logger exists) go to the journal too.
StandardError=journal
# The tag journald files the lines under.
SyslogIdentifier=kctl-agent
# /var/lib/kctl-agent: identity key, pinned CA, command journal; created by systemd, root only.
StateDirectory=kctl-agent
# The state directory holds the host's private key (S4, S19): owner-only.
StateDirectoryMode=0700
# Not 0077: children create files other users must read (e.g. apt keyrings read by _apt, configs
# written by package scripts). The agent sets 0600 explicitly on its own secrets.
UMask=0022
# The agent never needs setuid binaries to gain privileges; apt dropping to _apt is still allowed.
NoNewPrivileges=yes
# /home, /root and /run/user are read-only: nothing the agent does writes there.
ProtectHome=read-only
# Already implied by ProtectHome= (any file system namespacing does it); stated so the effect is
# visible: mounts made or removed by the agent's children stay private to the agent. A step that
# must change the host's mounts runs as a transient systemd unit instead.
PrivateMounts=yes
# /sys/fs/cgroup read-only: cgroups are managed by systemd and the kubelet, never by the agent.
ProtectControlGroups=yes
# No access to the kernel log buffer (/dev/kmsg, syslog(2)); the agent does not read it.
ProtectKernelLogs=yes
# The agent never sets the system clock (time sync is a package the agent installs and systemd runs).
ProtectClock=yes
# No realtime scheduling: a runaway agent must not starve the kubelet.
RestrictRealtime=yes
# Keep the execution domain fixed (no personality(2) tricks).
LockPersonality=yes
# Only native x86-64 system calls; blocks the 32-bit syscall ABI as an attack surface.
SystemCallArchitectures=native
# Deny syscall groups that neither the agent nor package scripts use: VM86 emulation, ptrace/perf,
# obsolete calls, raw I/O port access.
SystemCallFilter=~@cpu-emulation @debug @obsolete @raw-io
# A denied call fails with EPERM instead of killing the process: killing a dpkg child mid-install
# would break the host, an error is reported and retried.
SystemCallErrorNumber=EPERM
# Sockets the agent and its children use: local (systemctl, journald), IPv4/6 (controller, apt
# mirrors), netlink (interface facts, ip, modprobe's uevents).
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
# No new namespaces: nothing the agent runs creates containers (containerd is started by systemd).
RestrictNamespaces=yes
# Drop capabilities no agent task needs (clock, process accounting, leases, suspend blocking, tty config).
CapabilityBoundingSet=~CAP_SYS_TIME CAP_WAKE_ALARM CAP_SYS_PACCT CAP_LEASE CAP_BLOCK_SUSPEND CAP_SYS_TTY_CONFIG

# Deliberately not set, and why:
# ProtectSystem=        dpkg writes /usr and /etc; "full" or "strict" would make package installs fail.
# ProtectKernelModules= the agent loads br_netfilter and overlay with modprobe.
# ProtectKernelTunables= the agent writes /proc/sys (net.ipv4.ip_forward and friends) via sysctl.
# MemoryDenyWriteExecute= Node's JIT needs writable+executable memory; the agent would crash at start.
# PrivateTmp=           with KillMode=process a dpkg child can outlive the agent, and systemd deletes the
#                       private /tmp when the unit stops, under the feet of that child.
# PrivateDevices=, DevicePolicy= swapoff opens swap partitions and package scripts may need block devices.
# ProtectHostname=      a private UTS namespace would freeze the hostname the agent started with, and
#                       kubeadm names the node after it; a later rename must be visible.
# RestrictSUIDSGID=     packages ship setuid files (mount, su, passwd); dpkg must be able to install them.
# PrivateUsers=, DynamicUser=, User= the agent administers the host: it must be real root.
# ProtectProc=, ProcSubset= root with CAP_SYS_PTRACE sees every process anyway; "pid" would hide /proc/sys.
# SystemCallFilter=@system-service (an allow-list) package scripts run arbitrary programs; a list that
#                       is complete for all of them cannot be written, and a miss would break an install.

[Install]
# Start at boot with the rest of the system's services.
WantedBy=multi-user.target
`;

const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');
/**
 * An https URL made of characters that need no escaping in a systemd ExecStart= line (no "%", "$",
 * quotes, spaces or backslashes): a controller address and an artifact path.
 */
export const PlainHttpsUrl = z
  .string()
  .max(2048)
  .regex(
    /^https:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?(\/[A-Za-z0-9._~/-]*)?$/,
    'must be an https:// URL of letters, digits and . _ ~ / - only',
  );

export const CloudInitInput = z
  .strictObject({
    /** one controller (before issue 16); `controllerUrls` lists the replicas */
    controllerUrl: PlainHttpsUrl.optional(),
    /** the URLs of the controller's replicas (one fleet, one CA); the agent fails over between them */
    controllerUrls: z.array(PlainHttpsUrl).min(1).max(16).optional(),
    caPin: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<64 lowercase hex>'),
    /** the controller CA certificate (PEM) whose public key `caPin` pins */
    caCertPem: z.string().max(16_384).includes('-----BEGIN CERTIFICATE-----'),
    /** a fresh bootstrap token (short TTL, one use); it is written only into agent.yaml */
    token: z.string().regex(/^[a-z0-9]{6}\.[a-z0-9]{16}$/, 'must match [a-z0-9]{6}.[a-z0-9]{16}'),
    role: HostRole,
    labels: z.record(z.string().regex(/^[a-z0-9][a-z0-9._/-]{0,62}$/), z.string().max(63)).default({}),
    agentArtifact: z.strictObject({ url: PlainHttpsUrl, sha256: Sha256Hex }),
  })
  .refine((v) => v.controllerUrl !== undefined || v.controllerUrls !== undefined, {
    message: 'controllerUrls (or controllerUrl) is required',
    path: ['controllerUrls'],
  });
export type CloudInitInput = z.input<typeof CloudInitInput>;

/** The oneshot unit that downloads, verifies, installs and starts the agent (see the file comment). */
export function renderAgentInstallUnit(artifactUrl: string): string {
  const curl = [
    '/usr/bin/curl --fail --silent --show-error --proto =https --tlsv1.2',
    '--connect-timeout 10 --max-time 900 --retry 10 --retry-delay 3 --retry-connrefused',
    `--cacert ${CONTROLLER_CA_PATH} --capath ${EMPTY_CA_DIR}`,
    `--output ${DOWNLOAD_PATH} -- ${PlainHttpsUrl.parse(artifactUrl)}`,
  ].join(' \\\n  ');
  return `# Written by kctl cloud-init: downloads the kctl agent from the controller, verifies it, installs
# and starts it. Each ExecStart= runs in turn; the first failure stops the rest.

[Unit]
# Shown by systemctl status and in the journal.
Description=kctl agent installer (from cloud-init)
# The download needs the network.
Wants=network-online.target
# Start only once the network is up.
After=network-online.target

[Service]
# Runs its steps once and is done; systemctl start waits for the result.
Type=oneshot
# ${DOWNLOAD_DIR}: the download stays here, root only, until its checksum is verified.
StateDirectory=kctl-agent-install
# Owner-only, like every directory that holds something about to become a root binary.
StateDirectoryMode=0700
# ${EMPTY_CA_DIR}: created empty by systemd; curl's --capath points here so it trusts no system CA.
RuntimeDirectory=kctl-agent-install
# A slow controller or mirror must not hang boot forever.
TimeoutStartSec=20min
# Download over TLS, trusting only the controller CA written by cloud-init.
ExecStart=${curl}
# Refuse the file unless its SHA-256 is the one in the user-data.
ExecStart=/usr/bin/sha256sum --check --strict ${AGENT_CHECKSUM_PATH}
# Install the verified binary where kctl-agent.service runs it.
ExecStart=/usr/bin/install -m 0755 -- ${DOWNLOAD_PATH} ${AGENT_BINARY_PATH}
# Enable at boot and start now (the agent is not ordered after this unit, so this cannot deadlock).
ExecStart=/bin/systemctl enable --now kctl-agent.service
# Logs go to the journal: journalctl -u kctl-agent-install.
StandardOutput=journal
`;
}

/** Renders `#cloud-config` user-data for one host role. Throws KctlError on invalid input. */
export function renderCloudInit(input: CloudInitInput): string {
  const parsed = CloudInitInput.safeParse(input);
  if (!parsed.success) {
    throw new KctlError(
      'invalid_args',
      `Cannot render cloud-init user-data: ${describeZodError(parsed.error)}`,
    );
  }
  const v = parsed.data;
  const certPin = spkiPin(v.caCertPem);
  if (certPin !== v.caPin) {
    throw new KctlError(
      'ca_pin_mismatch',
      `The controller CA certificate has pin ${certPin}, not ${v.caPin}`,
    );
  }
  if (v.labels.role !== undefined && v.labels.role !== v.role) {
    throw new KctlError('invalid_args', `Label role=${v.labels.role} contradicts --role ${v.role}`);
  }
  // one entry per replica, as the agent's config demands (host compared without case)
  const controllers = new Map<string, string>();
  for (const url of [...(v.controllerUrl ? [v.controllerUrl] : []), ...(v.controllerUrls ?? [])]) {
    const key = new URL(url).href.replace(/\/+$/, '');
    if (!controllers.has(key)) controllers.set(key, url.replace(/\/+$/, ''));
  }
  const agentConfig = stringify(
    {
      controllers: [...controllers.values()],
      caPin: v.caPin,
      token: v.token,
      labels: { ...v.labels, role: v.role },
    },
    { lineWidth: 0 },
  );
  const userData = {
    write_files: [
      { path: AGENT_CONFIG_PATH, owner: 'root:root', permissions: '0600', content: agentConfig },
      {
        path: CONTROLLER_CA_PATH,
        owner: 'root:root',
        permissions: '0644',
        content: ensureNewline(v.caCertPem),
      },
      {
        path: AGENT_CHECKSUM_PATH,
        owner: 'root:root',
        permissions: '0644',
        content: `${v.agentArtifact.sha256}  ${DOWNLOAD_PATH}\n`,
      },
      {
        path: '/etc/systemd/system/kctl-agent.service',
        owner: 'root:root',
        permissions: '0644',
        content: AGENT_UNIT,
      },
      {
        path: '/etc/systemd/system/kctl-agent-install.service',
        owner: 'root:root',
        permissions: '0644',
        content: renderAgentInstallUnit(v.agentArtifact.url),
      },
    ],
    // argv lists, not shell strings; the steps themselves run in kctl-agent-install.service
    runcmd: [
      ['systemctl', 'daemon-reload'],
      ['systemctl', 'start', 'kctl-agent-install.service'],
    ],
  };
  return `#cloud-config\n# kctl agent for a ${v.role} host; written by kctl cloud-init.\n${stringify(userData, { lineWidth: 0 })}`;
}

/** The kubeadm-style pin: sha256 over the certificate's SubjectPublicKeyInfo (S2). */
function spkiPin(certPem: string): string {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw new KctlError('invalid_args', 'The controller CA certificate is not a valid PEM certificate', {
      cause: err,
    });
  }
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

function ensureNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}
