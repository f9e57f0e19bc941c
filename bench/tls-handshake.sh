#!/usr/bin/env bash
# tls-handshake.sh - full TLS handshakes per second against build/postbote's
# implicit-TLS (submissions) listener, measured with `openssl s_time -new`
# (no session resumption: every connection is a full handshake).  The
# server uses its self-signed P-256 certificate and its default policy
# (TLS 1.3, X25519, TLS_AES_256_GCM_SHA384).  CLIENTS s_time processes run
# in parallel for SECS seconds; the figure is all their handshakes over the
# wall-clock time of the run, and per second of smtpd's CPU time.  The
# clients share the machine's cores with the server, so the first figure
# is a lower bound of the server's capacity; the second is what one core
# of smtpd can do.
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
smtpd=$(grep -o "process=smtpd pid=[0-9]*" "$dir/log" | tail -1 | cut -d= -f3)
cpu() { awk '{ print $14 + $15 }' "/proc/$smtpd/stat"; }
cpu0=$(cpu)
start=$(date +%s.%N)
for i in $(seq "$CLIENTS"); do
	openssl s_time -connect 127.0.0.1:$port -new -time "$SECS" \
	    > "$dir/s_time.$i" 2>&1 &
done
wait $(jobs -p | grep -v "^$pid\$") 2>/dev/null || true
end=$(date +%s.%N)
cpu1=$(cpu)
total=0
for i in $(seq "$CLIENTS"); do
	# "N connections in T real seconds, B bytes read per connection"
	n=$(grep "real seconds" "$dir/s_time.$i" | head -1 | awk '{print $1}')
	echo "client $i: ${n:-0} full handshakes"
	total=$((total + ${n:-0}))
done
rate=$(awk -v n="$total" -v s="$start" -v e="$end" \
    'BEGIN { printf "%.0f", n / (e - s) }')
echo "full TLS handshakes per second: $rate ($total in" \
    "$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }')s," \
    "$CLIENTS clients, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)," \
    "$(openssl version | cut -d' ' -f1-2))"
# smtpd's own CPU time: what the server spends per handshake, whatever
# else the machine is doing.
awk -v n="$total" -v c="$((cpu1 - cpu0))" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { if (c > 0) printf "smtpd CPU: %.2fs, %.0f handshakes per smtpd CPU second\n", c / hz, n / (c / hz) }'
