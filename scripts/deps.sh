#!/bin/sh
# deps.sh - install the Debian packages that building, running and testing
# postbote need, when they are missing.  As root it runs apt-get; otherwise
# it prints the exact command and stops.
set -eu

PKGS="build-essential pkg-config clang libevent-dev libc-ares-dev libssl-dev
libcrypt-dev zlib1g-dev libcmocka-dev python3-pytest python3-pytest-xdist
python3-dnslib python3-aiosmtpd python3-dkim python3-nacl opendkim-tools swaks
curl openssl publicsuffix python3-spf python3-yaml testssl.sh
python3-cryptography dovecot-core dovecot-lmtpd dovecot-imapd dovecot-sieve"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "postbote needs these Debian packages:$missing" >&2
		echo "run as root: apt-get install -y$missing" >&2
		exit 1
	fi
	echo "deps.sh: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	# Dovecot's packages would start the system service: a policy-rc.d
	# refuses every start while apt-get runs (the tests start their own
	# private Dovecot, never the service).
	policy=/usr/sbin/policy-rc.d
	own_policy=
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' > "$policy"
		chmod 755 "$policy"
		own_policy=yes
	fi
	trap '[ -z "$own_policy" ] || rm -f "$policy"' EXIT
	apt-get update -q || true
	apt-get install -y -q $missing
fi

# The server drops privileges to this user when started as root.
if [ "$(id -u)" -eq 0 ] && ! getent passwd postbote >/dev/null; then
	echo "deps.sh: creating system user postbote"
	useradd --system --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin postbote
fi
exit 0
