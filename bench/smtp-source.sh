#!/usr/bin/env bash
# smtp-source.sh - accepted-messages-per-second of build/postbote under
# Postfix's smtp-source: 20 concurrent sessions of 2 KiB messages, one
# message per connection (as smtp-source does by default).
#   MODE=local   recipients are local: every message is also delivered to
#                a Maildir while the load runs
#   MODE=queue   recipients are remote: messages are committed and stay
#                queued (no Maildir writes)
#   EXTRA=TEXT   config lines added before the listener (a [milter])
#   STRACE=1     count the server's system calls with strace -c -f
#                (slower) instead of perf stat's raw_syscalls:sys_enter
# Besides the rates it prints, per server process and in total, the CPU
# time per accepted message (user + system, all threads) and the system
# calls per accepted message, both over the load (and, with MODE=local,
# until the last copy is delivered).
# Usage: bash bench/smtp-source.sh [messages] [sessions]
set -eu
N=${1:-20000}
S=${2:-20}
MODE=${MODE:-local}
BIN=${BIN:-$(pwd)/build/postbote}
command -v smtp-source >/dev/null || {
	echo "smtp-source is missing: apt-get install postfix (choose 'No configuration')" >&2
	exit 1
}
# Let earlier runs' deletions reach the disk first: they would be
# measured otherwise.
sync; sleep 2
. "$(dirname "$0")/lib.sh"
bench_setup bench
cat >> "$dir/postbote.conf" <<CONF
aliases = $dir/aliases
users = $dir/users
local_concurrency = ${CONC:-20}
${EXTRA:-}
[listen mx]
address = 127.0.0.1:$port
CONF
printf 'sink@bench.example: sink@bench.example\n' > "$dir/aliases"
printf 'sink@bench.example:x\n' > "$dir/users"
"$BIN" serve -c "$dir/postbote.conf" 2> "$dir/log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
for i in $(seq 300); do
	(exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
	sleep 0.1
done
if [ "$MODE" = local ]; then to=sink@bench.example; else to=sink@remote.example; fi
# proc_name PID - the process name of a child, from its spawn line
proc_name() {
	grep -o "process=[a-z]* pid=$1" "$dir/log" | head -1 | cut -d' ' -f1 |
	    cut -d= -f2
}
# cpu_ticks PID - user + system clock ticks of the process, all threads
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}
children=$(pgrep -P "$pid")
counters=
for c in $children; do
	eval "cpu0_$c=$(cpu_ticks "$c")"
	if [ -n "${STRACE:-}" ]; then
		strace -c -f -o "$dir/calls.$c" -p "$c" 2>/dev/null &
	else
		perf stat -e raw_syscalls:sys_enter -x, -o "$dir/calls.$c" \
		    -p "$c" 2>/dev/null &
	fi
	counters="$counters $!"
done
sleep 1		# the counters attach
start=$(date +%s.%N)
TIMEFORMAT="smtp-source cpu: user=%Us sys=%Ss"; time smtp-source -s "$S" -m "$N" -l 2048 -f bench@bench.example -t "$to" \
	127.0.0.1:$port
end=$(date +%s.%N)
accepted=$(grep -c ': from=<' "$dir/log" || true)
echo "$accepted" "$start" "$end" "$N" "$S" "$MODE" | awk '{
	t = $3 - $2; printf "mode=%s sessions=%d messages=%d accepted=%d seconds=%.2f rate=%.0f msg/s\n", $6, $5, $4, $1, t, $1 / t }'
if [ "$MODE" = local ]; then
	# Delivery finishes after the load; report how long it trailed.
	for i in $(seq 600); do
		n=$(ls "$dir/state/mail/bench.example/sink/new" 2>/dev/null | wc -l)
		[ "$n" -ge "$accepted" ] && break
		sleep 0.1
	done
	done_t=$(date +%s.%N)
	echo "$n $start $done_t" | awk '{ printf "delivered=%d all-delivered-after=%.2f s (%.0f msg/s end to end)\n", $1, $3 - $2, $1 / ($3 - $2) }'
fi
# CPU time and system calls per accepted message, per process
cpu_line="cpu us/msg:"
calls_line="syscalls/msg:"
cpu_total=0
calls_total=0
for c in $children; do
	eval "t0=\$cpu0_$c"
	t1=$(cpu_ticks "$c")
	name=$(proc_name "$c")
	us=$(awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" \
	    -v n="$accepted" 'BEGIN { printf "%.0f", (b - a) * 1e6 / hz / n }')
	cpu_line="$cpu_line $name=$us"
	cpu_total=$((cpu_total + us))
done
kill -INT $counters 2>/dev/null || true
wait $counters 2>/dev/null || true
for c in $children; do
	name=$(proc_name "$c")
	if [ -n "${STRACE:-}" ]; then
		k=$(awk '$NF == "total" { print $4 }' "$dir/calls.$c" \
		    2>/dev/null)
	else
		k=$(awk -F, '/raw_syscalls/ { print $1 }' "$dir/calls.$c" \
		    2>/dev/null)
	fi
	k=${k:-0}
	per=$(awk -v k="$k" -v n="$accepted" 'BEGIN { printf "%.1f", k / n }')
	calls_line="$calls_line $name=$per"
	calls_total=$((calls_total + k))
done
echo "$cpu_line total=$cpu_total"
echo "$calls_line total=$(awk -v k="$calls_total" -v n="$accepted" \
    'BEGIN { printf "%.1f", k / n }')"
