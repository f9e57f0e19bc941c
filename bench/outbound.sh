#!/usr/bin/env bash
# outbound.sh - remote delivery throughput of build/postbote: messages
# are injected with Postfix's smtp-source (remote recipients) and relayed
# through a [route *] to Postfix's smtp-sink on loopback.  Reports
# messages per second from the first injection to the last "status=sent",
# with the concurrency settings used.
# Usage: bash bench/outbound.sh [messages] [inject-sessions]
#   RCONC  remote_concurrency (default 20)
#   DCONC  destination_concurrency (default 20: one destination here)
#   SPLIT=1  delivery alone: inject while the sink is down (every message
#          is deferred), then start the sink, `postbote queue flush`, and
#          time the deliveries only
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
count() { grep -c "$1" "$dir/log" || true; }
# smtp-sink: accept everything, PIPELINING on, up to 256 connections.
start_sink() {
	smtp-sink -u "$(id -un)" 127.0.0.1:$sport 256 & sink=$!
	wait_port $sport
}
sink=
"$BIN" serve -c "$dir/postbote.conf" 2> "$dir/log" & pid=$!
trap 'kill $pid $sink 2>/dev/null; wait $pid $sink 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
[ -n "${SPLIT:-}" ] || start_sink
wait_port $port
start=$(date +%s.%N)
smtp-source -s "$S" -m "$N" -l 2048 -f bench@bench.example \
	-t sink@remote.example 127.0.0.1:$port
injected=$(date +%s.%N)
if [ -n "${SPLIT:-}" ]; then
	while [ "$(count 'status=deferred')" -lt "$N" ]; do sleep 0.2; done
	start_sink
	start=$(date +%s.%N)
	injected=$start
	"$BIN" queue -c "$dir/postbote.conf" flush >/dev/null
fi
failed=$(count 'status=\(deferred\|bounced\)')
while [ "$(count 'status=sent')" -lt "$N" ]; do
	if [ "$(count 'status=\(deferred\|bounced\)')" -gt "$failed" ]; then
		grep -m3 'status=\(deferred\|bounced\)' "$dir/log" >&2
		echo "outbound.sh: deliveries failed" >&2
		exit 1
	fi
	sleep 0.1
done
end=$(date +%s.%N)
echo "$N $start $injected $end $RCONC $DCONC $S ${SPLIT:-0}" | awk '{
	printf "messages=%d %s all delivered after %.2fs: %.0f messages/s delivered (remote_concurrency=%d destination_concurrency=%d)\n",
	    $1, $8 ? "queued first (SPLIT), then flushed:" : sprintf("injected by %d sessions in %.2fs,", $7, $3 - $2),
	    $4 - $2, $1 / ($4 - $2), $5, $6 }'
