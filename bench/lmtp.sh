#!/usr/bin/env bash
# lmtp.sh - end-to-end rate of LMTP delivery: Postfix's smtp-source sends
# 2 KiB messages over 20 concurrent sessions to build/postbote, which
# delivers each to a private Dovecot over LMTP on a UNIX socket
# (deliver = lmtp:unix:..., lmtp_concurrency connections).  The figure is
# messages per second from the first connection until Dovecot has
# answered 250 for the last one (postbote's status=sent lines).  The
# Dovecot runs with its own config, base_dir and mail under the bench
# directory, and is stopped by its process group.
# Usage: bash bench/lmtp.sh [messages] [sessions]
# LCONC: lmtp_concurrency (10); DOVECOT_EXTRA: more Dovecot settings, as
# "mail_fsync = never" to see how much of the time is Dovecot's syncs.
set -eu
N=${1:-5000}
S=${2:-20}
BIN=${BIN:-$(pwd)/build/postbote}
command -v smtp-source >/dev/null || {
	echo "smtp-source is missing: make bench-deps" >&2
	exit 1
}
command -v dovecot >/dev/null || {
	echo "dovecot is missing: make deps" >&2
	exit 1
}
sync; sleep 2
. "$(dirname "$0")/lib.sh"
bench_setup lmtp
dv=$dir/dovecot
mkdir -p "$dv/run" "$dv/state" "$dv/mail"
chown nobody:nogroup "$dv/mail"
imap_port=$((port + 1))
cat > "$dv/dovecot.conf" <<CONF
instance_name = pbbench-$port
base_dir = $dv/run
state_dir = $dv/state
log_path = $dv/dovecot.log
protocols = lmtp
listen = 127.0.0.1
ssl = no
first_valid_uid = 1
mail_uid = nobody
mail_gid = nogroup
mail_location = maildir:$dv/mail/%d/%n
default_internal_user = dovecot
default_login_user = dovenull
passdb {
  driver = static
  args = nopassword=y
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$dv/mail/%d/%n
}
${DOVECOT_EXTRA:-}
service lmtp {
  unix_listener $dv/lmtp {
    mode = 0666
  }
}
CONF
setsid dovecot -F -c "$dv/dovecot.conf" </dev/null >/dev/null 2>&1 &
dpid=$!
cat >> "$dir/postbote.conf" <<CONF
aliases = $dir/aliases
users = $dir/users
local_concurrency = ${CONC:-20}
lmtp_concurrency = ${LCONC:-10}
deliver = lmtp:unix:$dv/lmtp
[listen mx]
address = 127.0.0.1:$port
CONF
printf 'sink@bench.example: sink@bench.example\n' > "$dir/aliases"
printf 'sink@bench.example:x\n' > "$dir/users"
"$BIN" serve -c "$dir/postbote.conf" 2> "$dir/log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; kill -9 -- -$dpid 2>/dev/null; wait $dpid 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
for i in $(seq 300); do
	[ -S "$dv/lmtp" ] && (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null &&
		break
	sleep 0.1
done
start=$(date +%s.%N)
smtp-source -s "$S" -m "$N" -l 2048 -f bench@bench.example \
	-t sink@bench.example 127.0.0.1:$port
accepted=$(grep -c ': from=<' "$dir/log" || true)
for i in $(seq 1200); do
	n=$(grep -c 'relay=lmtp:.*status=sent' "$dir/log" || true)
	[ "$n" -ge "$accepted" ] && break
	sleep 0.1
done
done_t=$(date +%s.%N)
deferred=$(grep -c 'relay=lmtp:.*status=deferred' "$dir/log" || true)
stored=$(find "$dv/mail" -path '*/new/*' -type f | wc -l)
echo "$n $start $done_t $S $accepted $deferred $stored" | awk '{
	printf "lmtp: sessions=%d accepted=%d delivered=%d deferred=%d in-dovecot=%d all-delivered-after=%.2f s (%.0f msg/s end to end)\n", $4, $5, $1, $6, $7, $3 - $2, $1 / ($3 - $2) }'
