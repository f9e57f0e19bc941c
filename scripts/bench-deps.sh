#!/bin/sh
# bench-deps.sh - the Debian packages the benchmarks need besides
# deps.sh's: Postfix, for its load generators smtp-source and smtp-sink
# and for bench-compare's private instance (postfix -c DIR), and perf,
# which counts postbote's system calls there.  Postfix is installed with
# "No configuration" and its system service is never started (a
# policy-rc.d refuses every start while apt-get runs).
set -eu

command -v smtp-source >/dev/null && command -v smtp-sink >/dev/null &&
	command -v perf >/dev/null && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "the benchmarks need Postfix (smtp-source, smtp-sink) and perf" >&2
	echo "run as root: apt-get install -y postfix linux-perf" >&2
	exit 1
fi
echo "bench-deps.sh: installing postfix (No configuration, not started), linux-perf"
policy=/usr/sbin/policy-rc.d
own_policy=
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' > "$policy"
	chmod 755 "$policy"
	own_policy=yes
fi
trap '[ -z "$own_policy" ] || rm -f "$policy"' EXIT
echo "postfix postfix/main_mailer_type select No configuration" |
	debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q postfix linux-perf >/dev/null || {
	apt-get update -q || true
	apt-get install -y -q postfix linux-perf >/dev/null
}
