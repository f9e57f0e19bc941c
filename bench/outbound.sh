#!/usr/bin/env bash
# outbound.sh - remote delivery throughput of build/postbote: messages
# are injected with Postfix's smtp-source (remote recipients) and relayed
# through a [route *] to Postfix's smtp-sink on loopback.  Reports
# messages per second from the first injection to the last "status=sent",
# with the concurrency settings used.
# Usage: bash bench/outbound.sh [messages] [inject-sessions]
#   RCONC  remote_concurrency (default 20)
#   DCONC  destination_concurrency (default 20: one destination here)
set -eu
N=${1:-5000}
S=${2:-20}
RCONC=${RCONC:-20}
DCONC=${DCONC:-20}
BIN=${BIN:-$(pwd)/build/postbote}
for t in smtp-source smtp-sink; do
	command -v $t >/dev/null || [ -x /usr/sbin/$t ] || {
		echo "$t is missing: apt-get install postfix" >&2; exit 1; }
done
PATH=$PATH:/usr/sbin
sync; sleep 1
dir=$(mktemp -d /tmp/postbote-bench-out.XXXXXX)
chmod 755 "$dir"
port=$((30000 + $$ % 15000))
sport=$((port + 1))
cat > "$dir/postbote.conf" <<CONF
hostname = bench.example
domains = bench.example
state_dir = $dir/state
resolver = 127.0.0.1:9
remote_concurrency = $RCONC
destination_concurrency = $DCONC
[listen mx]
address = 127.0.0.1:$port
[route *]
host = 127.0.0.1:$sport
tls = none
CONF
# wait_port PORT - until something accepts on 127.0.0.1:PORT (30s).
wait_port() {
	local i
	for i in $(seq 300); do
		(exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
# smtp-sink: accept everything, PIPELINING on, up to 256 connections.
smtp-sink -u "$(id -un)" 127.0.0.1:$sport 256 & sink=$!
"$BIN" serve -c "$dir/postbote.conf" 2> "$dir/log" & pid=$!
trap 'kill $pid $sink 2>/dev/null; wait $pid $sink 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
wait_port $sport && wait_port $port
start=$(date +%s.%N)
smtp-source -s "$S" -m "$N" -l 2048 -f bench@bench.example \
	-t sink@remote.example 127.0.0.1:$port
injected=$(date +%s.%N)
while [ "$(grep -c 'status=sent' "$dir/log" || true)" -lt "$N" ]; do
	if [ "$(grep -c 'status=\(deferred\|bounced\)' "$dir/log" || true)" -gt 0 ]; then
		grep -m3 'status=\(deferred\|bounced\)' "$dir/log" >&2
		echo "outbound.sh: deliveries failed" >&2
		exit 1
	fi
	sleep 0.1
done
end=$(date +%s.%N)
echo "$N $start $injected $end $RCONC $DCONC $S" | awk '{
	printf "messages=%d injected in %.2fs, all delivered after %.2fs: %.0f messages/s delivered (remote_concurrency=%d destination_concurrency=%d, %d injecting sessions)\n",
	    $1, $3 - $2, $4 - $2, $1 / ($4 - $2), $5, $6, $7 }'
