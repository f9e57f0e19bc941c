#!/usr/bin/env bash
# tls-handshake.sh - full TLS handshakes per second against build/postbote's
# implicit-TLS (submissions) listener, measured with `openssl s_time -new`
# (no session resumption: every connection is a full handshake).  The
# server uses its self-signed P-256 certificate and its default policy
# (TLS 1.3, X25519, TLS_AES_256_GCM_SHA384).  CLIENTS s_time processes run
# in parallel for SECS seconds; the figure is the sum of their rates.
# Usage: bash bench/tls-handshake.sh [seconds] [clients]
set -eu
SECS=${1:-10}
CLIENTS=${2:-2}
BIN=${BIN:-$(pwd)/build/postbote}
. "$(dirname "$0")/lib.sh"
bench_setup tlsbench
cat >> "$dir/postbote.conf" <<CONF
[listen smtps]
address = 127.0.0.1:$port
mode = submissions
CONF
"$BIN" serve -c "$dir/postbote.conf" 2> "$dir/log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
	openssl s_client -connect 127.0.0.1:$port -brief </dev/null \
	    >/dev/null 2>&1 && break
	sleep 0.1
done
for i in $(seq "$CLIENTS"); do
	openssl s_time -connect 127.0.0.1:$port -new -time "$SECS" \
	    > "$dir/s_time.$i" 2>&1 &
done
wait $(jobs -p | grep -v "^$pid\$") 2>/dev/null || true
total=0
for i in $(seq "$CLIENTS"); do
	# "N connections in T real seconds, B bytes read per connection"
	line=$(grep "real seconds" "$dir/s_time.$i" | head -1)
	n=$(echo "$line" | awk '{print $1}')
	t=$(echo "$line" | awk '{print $4}')
	echo "client $i: $line"
	total=$(awk -v a="$total" -v n="$n" -v t="$t" 'BEGIN { print a + n / t }')
done
echo "full TLS handshakes per second: $(printf '%.0f' "$total")" \
    "($CLIENTS clients, ${SECS}s, $(nproc) cores, $(openssl version | cut -d' ' -f1-2))"
