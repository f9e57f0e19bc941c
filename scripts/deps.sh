#!/bin/sh
# deps.sh - install the Debian packages that building, running and testing
# postbote need, when they are missing.  As root it runs apt-get; otherwise
# it prints the exact command and stops.
set -eu

# groff-base and man-db check the man pages, systemd gives systemd-analyze
# for the unit file (test_ops.py).
PKGS="build-essential pkg-config clang libevent-dev libc-ares-dev libssl-dev
libcrypt-dev zlib1g-dev libcmocka-dev python3-pytest python3-pytest-xdist
python3-dnslib python3-aiosmtpd python3-dkim python3-nacl opendkim-tools swaks
curl openssl publicsuffix python3-spf python3-yaml testssl.sh
python3-cryptography ldnsutils liblmdb-dev groff-base man-db systemd
python3-milter pflogsumm python3-prometheus-client chromium libseccomp-dev
python3-jsonschema"
# Servers the tests start themselves (private configs, loopback ports,
# stopped by pid): their packages' own services must never run, so they
# are installed under a policy-rc.d that refuses every start.
SERVICE_PKGS="nsd unbound dovecot-core dovecot-lmtpd dovecot-imapd dovecot-sieve
rspamd prometheus clamav-daemon clamav-milter"
# the units those packages bring (clamav-freshclam comes with clamav-daemon:
# the tests never download signatures, they make their own)
SERVICES="nsd unbound dovecot rspamd prometheus prometheus-node-exporter
clamav-daemon clamav-daemon.socket clamav-milter clamav-freshclam"

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'
}
missing=""
for p in $PKGS; do
	installed "$p" || missing="$missing $p"
done
missing_svc=""
for p in $SERVICE_PKGS; do
	installed "$p" || missing_svc="$missing_svc $p"
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "postbote needs these Debian packages:$missing" >&2
		echo "run as root: apt-get install -y$missing" >&2
		exit 1
	fi
	echo "deps.sh: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q || true
	apt-get install -y -q $missing
fi

if [ -n "$missing_svc" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "postbote's tests need these Debian packages:$missing_svc" >&2
		echo "run as root: scripts/deps.sh (their services stay off)" >&2
		exit 1
	fi
	echo "deps.sh: installing$missing_svc (services not started)"
	policy=/usr/sbin/policy-rc.d
	own_policy=
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' > "$policy"
		chmod 755 "$policy"
		own_policy=yes
	fi
	trap '[ -z "$own_policy" ] || rm -f "$policy"' EXIT
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q $missing_svc || {
		apt-get update -q || true
		apt-get install -y -q $missing_svc
	}
	# a unit that is enabled would start at the next boot
	for s in $SERVICES; do
		systemctl disable "$s" >/dev/null 2>&1 || true
	done
fi

# The server drops privileges to this user when started as root.
if [ "$(id -u)" -eq 0 ] && ! getent passwd postbote >/dev/null; then
	echo "deps.sh: creating system user postbote"
	useradd --system --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin postbote
fi
# smtpd runs as its own user (smtpd_user), which may not write the spool
# or the mailboxes.
if [ "$(id -u)" -eq 0 ] && ! getent passwd postbote-smtpd >/dev/null; then
	echo "deps.sh: creating system user postbote-smtpd"
	useradd --system --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin postbote-smtpd
fi
exit 0
