#!/bin/sh
# kctl agent installer. Installs the single-file agent, writes /etc/kctl/agent.yaml from its flags,
# installs the systemd unit, then enables and starts it. Idempotent: a second run with the same
# flags changes nothing. Refuses to run without a CA pin. See docs/install.md.
#
#   sh install.sh --controller https://198.18.0.1:7443 [--controller https://198.18.0.2:7443 ...] --ca-pin sha256:<64 hex> \
#     --token abcdef.0123456789abcdef --sha256 <64 hex of the agent binary> \
#     (--binary ./kctl-agent-linux-x64 | --binary-url https://198.18.0.1:7443/artifacts/kctl-agent-linux-x64) \
#     [--ca-cert controller-ca.pem] [--labels role=worker,zone=a] [--token-file FILE] [--root DIR]
#
# --root DIR installs every file under DIR (for tests and image builds); systemctl is still the
# one found on PATH.
#
# --controller may be repeated, or given a comma-separated list: the URLs of the controller's
# replicas (one fleet, one CA pin); the agent fails over between them (docs/install.md).
set -eu

usage() {
	cat <<'USAGE'
usage: install.sh --controller URL[,URL...] [--controller URL ...] --ca-pin sha256:HEX (--token T | --token-file FILE)
                  --sha256 HEX (--binary PATH | --binary-url URL)
                  [--ca-cert FILE] [--labels k=v,...] [--root DIR]
USAGE
}

die() {
	printf 'install.sh: %s\n' "$*" >&2
	exit 1
}

say() {
	printf 'install.sh: %s\n' "$*"
}

nl='
'
# matches ERE VALUE: VALUE is one line and matches ERE as a whole
matches() {
	case $2 in *"$nl"*) return 1 ;; esac
	printf '%s' "$2" | grep -Eqx -- "$1"
}

controller='' ca_pin='' token='' token_file='' labels='' binary='' binary_url='' sha256='' ca_cert='' root=''
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help)
		usage
		exit 0
		;;
	--controller | --ca-pin | --token | --token-file | --labels | --binary | --binary-url | --sha256 | --ca-cert | --root)
		[ $# -ge 2 ] || die "$1 needs a value"
		case $1 in
		--controller) controller="$controller${controller:+,}$2" ;;
		--ca-pin) ca_pin=$2 ;;
		--token) token=$2 ;;
		--token-file) token_file=$2 ;;
		--labels) labels=$2 ;;
		--binary) binary=$2 ;;
		--binary-url) binary_url=$2 ;;
		--sha256) sha256=$2 ;;
		--ca-cert) ca_cert=$2 ;;
		--root) root=$2 ;;
		esac
		shift 2
		;;
	*)
		usage >&2
		die "unknown argument: $1"
		;;
	esac
done

# --- validate every flag before touching anything ---------------------------------------------

[ -n "$ca_pin" ] || die "refusing to install without --ca-pin: the agent must pin the controller CA (sha256:<64 hex> of its public key, as printed by 'kctl controller init')"
matches 'sha256:[0-9a-f]{64}' "$ca_pin" || die "--ca-pin must be sha256:<64 lowercase hex>, got \"$ca_pin\""
[ -n "$controller" ] || die "--controller must be an https:// URL with a host and optional port, got none"
# --controller URLs -> "  - "URL"" lines in the order given; each one checked, a repeated one refused
# (compared without case, as the agent does: it would refuse the config at start)
controller_lines=''
controller_keys=''
n=0
old_ifs=$IFS
IFS=,
set -f # no pathname expansion: "[::1]" in an IPv6 URL is a glob
# shellcheck disable=SC2086 # splitting on commas is the point
set -- $controller
set +f
IFS=$old_ifs
[ $# -gt 0 ] || die "--controller must be an https:// URL with a host and optional port, got \"$controller\""
for url in "$@"; do
	n=$((n + 1))
	matches 'https://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?/?' "$url" ||
		die "--controller must be an https:// URL with a host and optional port, got \"$url\" (controller $n)"
	url=${url%/}
	key=$(printf '%s' "$url" | tr '[:upper:]' '[:lower:]')
	case "$nl$controller_keys" in *"$nl$key$nl"*) die "--controller \"$url\" is given twice" ;; esac
	controller_keys="$controller_keys$key$nl"
	controller_lines="$controller_lines  - \"$url\"$nl"
done
[ "$n" -le 16 ] || die "--controller: at most 16 controller URLs, got $n"
if [ -n "$token_file" ]; then
	[ -z "$token" ] || die "give --token or --token-file, not both"
	IFS= read -r token <"$token_file" || [ -n "$token" ] || die "cannot read a token from \"$token_file\""
fi
matches '[a-z0-9]{6}\.[a-z0-9]{16}' "$token" || die "--token must look like abcdef.0123456789abcdef (from 'kctl token create')"
sha256=$(printf '%s' "$sha256" | tr 'A-F' 'a-f')
matches '[0-9a-f]{64}' "$sha256" || die "--sha256 must be the 64 hex digits of the agent binary's SHA-256"
if [ -n "$binary" ] && [ -n "$binary_url" ]; then die "give --binary or --binary-url, not both"; fi
[ -n "$binary" ] || [ -n "$binary_url" ] || die "give --binary PATH or --binary-url URL"
[ -z "$binary" ] || [ -f "$binary" ] || die "--binary \"$binary\" is not a file"
[ -z "$binary_url" ] || matches 'https://[]A-Za-z0-9.:/_~%[-]+' "$binary_url" || die "--binary-url must be an https:// URL, got \"$binary_url\""
[ -z "$ca_cert" ] || [ -f "$ca_cert" ] || die "--ca-cert \"$ca_cert\" is not a file"
if [ -n "$root" ]; then
	case $root in /*) ;; *) die "--root must be an absolute path" ;; esac
	root=${root%/}
fi
[ -n "$root" ] || [ "$(id -u)" = 0 ] || die "must run as root (or with --root DIR for a test install)"

# labels: k=v,... -> sorted "  "k": "v"" lines; keys and values are restricted so they need no YAML escaping
label_lines=''
if [ -n "$labels" ]; then
	old_ifs=$IFS
	IFS=,
	# shellcheck disable=SC2086 # splitting on commas is the point
	set -- $labels
	IFS=$old_ifs
	for pair in "$@"; do
		key=${pair%%=*}
		value=${pair#*=}
		[ "$key" != "$pair" ] || die "--labels entry \"$pair\" must be key=value"
		matches '[a-z0-9][a-z0-9._/-]{0,62}' "$key" || die "label key \"$key\" must match [a-z0-9][a-z0-9._/-]{0,62}"
		matches '([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?' "$value" ||
			die "label value \"$value\" must be at most 63 of [A-Za-z0-9._-], starting and ending alphanumeric"
		case "$nl$label_lines" in *"$nl  \"$key\": "*) die "label \"$key\" is given twice" ;; esac
		label_lines="$label_lines  \"$key\": \"$value\"$nl"
	done
	label_lines=$(printf '%s' "$label_lines" | LC_ALL=C sort)
fi

for tool in sha256sum mktemp cmp chmod mv systemctl; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is required but not installed"
done
[ -z "$binary_url" ] || command -v curl >/dev/null 2>&1 || die "curl is required for --binary-url (apt-get install curl)"
[ -z "$ca_cert" ] || command -v openssl >/dev/null 2>&1 || die "openssl is required to check --ca-cert against --ca-pin (apt-get install openssl)"

# --- helpers -----------------------------------------------------------------------------------

tmp_files=''
cleanup() {
	for f in $tmp_files; do rm -rf -- "$f"; done
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# new_temp DIR NAME: sets $tmp to a new empty file in DIR (the target's file system, so mv is
# atomic), removed on exit unless it was moved into place
new_temp() {
	tmp=$(mktemp "$1/.$2.XXXXXX")
	tmp_files="$tmp_files $tmp"
}

sha256_of() {
	sha256sum -- "$1" | cut -d ' ' -f 1
}

# put_file TARGET MODE CONTENT: writes CONTENT (plus a final newline) to TARGET through a temp
# file and rename, unless TARGET already holds exactly that (then nothing is created, not even a
# temp file); returns 0 when TARGET changed
put_file() {
	if [ -f "$1" ] && printf '%s\n' "$3" | cmp -s - "$1"; then
		[ "$(stat -c %a -- "$1")" = "${2#0}" ] || chmod "$2" "$1"
		return 1
	fi
	new_temp "$(dirname -- "$1")" "$(basename -- "$1")"
	chmod "$2" "$tmp"
	printf '%s\n' "$3" >"$tmp"
	mv -f -- "$tmp" "$1"
}

# spki_pin CERT: the kubeadm-style pin of a PEM certificate's public key
spki_pin() {
	printf 'sha256:%s' "$(openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform der | sha256sum | cut -d ' ' -f 1)"
}

download() {
	set -- --fail --silent --show-error --proto =https --tlsv1.2 --connect-timeout 10 --max-time 900 \
		--retry 5 --retry-delay 2 --retry-connrefused --output "$2" -- "$1"
	if [ -n "$ca_cert" ]; then
		# --cacert alone still trusts Debian curl's built-in CA directory (/etc/ssl/certs);
		# an empty --capath leaves the controller CA as the only trust anchor (S3)
		empty_ca_dir=$(mktemp -d)
		tmp_files="$tmp_files $empty_ca_dir"
		curl --cacert "$ca_cert" --capath "$empty_ca_dir" "$@"
	else
		# no CA to verify TLS with: the download is trusted only because its SHA-256 must match --sha256
		say "no --ca-cert given: TLS is not verified for the download; the binary is checked against --sha256"
		curl --insecure "$@"
	fi
}

# --- install -----------------------------------------------------------------------------------

if [ -n "$ca_cert" ]; then
	cert_pin=$(spki_pin "$ca_cert") || die "cannot read the certificate in \"$ca_cert\""
	[ "$cert_pin" = "$ca_pin" ] || die "--ca-cert \"$ca_cert\" has pin $cert_pin, not --ca-pin $ca_pin"
fi

bin_dir=$root/usr/local/bin
etc_dir=$root/etc/kctl
unit_dir=$root/etc/systemd/system
mkdir -p -- "$bin_dir" "$etc_dir" "$unit_dir"
chmod 0755 "$etc_dir"
restart_needed=0
unit_changed=0

target_bin=$bin_dir/kctl-agent
if [ -f "$target_bin" ] && [ "$(sha256_of "$target_bin")" = "$sha256" ]; then
	say "$target_bin is already the wanted binary"
else
	new_temp "$bin_dir" kctl-agent
	if [ -n "$binary" ]; then cp -- "$binary" "$tmp"; else download "$binary_url" "$tmp"; fi
	got=$(sha256_of "$tmp")
	[ "$got" = "$sha256" ] || die "checksum mismatch for ${binary:-$binary_url}: expected $sha256, got $got"
	chmod 0755 "$tmp"
	mv -f -- "$tmp" "$target_bin"
	say "installed $target_bin"
	restart_needed=1
fi

config=$(
	printf '# Written by kctl install.sh; the agent reads it at start (fields: agent/config.ts).\n'
	printf 'controllers:\n%s' "$controller_lines"
	printf 'caPin: "%s"\n' "$ca_pin"
	printf 'token: "%s"\n' "$token"
	if [ -n "$label_lines" ]; then printf 'labels:\n%s\n' "$label_lines"; else printf 'labels: {}\n'; fi
)
if put_file "$etc_dir/agent.yaml" 0600 "$config"; then
	say "wrote $etc_dir/agent.yaml"
	restart_needed=1
else
	say "$etc_dir/agent.yaml is unchanged"
fi

# the unit below must stay identical to packaging/systemd/kctl-agent.service (a test checks it)
unit=$(
	cat <<'UNIT'
# kctl agent: takes typed commands from the kctl controller and converges this host.
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
UNIT
)
if put_file "$unit_dir/kctl-agent.service" 0644 "$unit"; then
	say "wrote $unit_dir/kctl-agent.service"
	unit_changed=1
	restart_needed=1
else
	say "$unit_dir/kctl-agent.service is unchanged"
fi

[ "$unit_changed" = 0 ] || systemctl daemon-reload
started=0
if ! systemctl is-enabled --quiet kctl-agent.service; then
	systemctl enable --now kctl-agent.service
	started=1
fi
if ! systemctl is-active --quiet kctl-agent.service; then
	systemctl start kctl-agent.service
elif [ "$restart_needed" = 1 ] && [ "$started" = 0 ]; then
	systemctl restart kctl-agent.service
fi
say "kctl-agent is enabled and running (journalctl -u kctl-agent -o cat)"
