#!/usr/bin/env bash
# smtp-source.sh - accepted-messages-per-second of build/postbote under
# Postfix's smtp-source: 20 concurrent sessions of 2 KiB messages, one
# message per connection (as smtp-source does by default).
#   MODE=local   recipients are local: every message is also delivered to
#                a Maildir while the load runs
#   MODE=queue   recipients are remote: messages are committed and stay
#                queued (no Maildir writes)
#   EXTRA=TEXT   config lines added before the listener (a [milter])
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
start=$(date +%s.%N)
TIMEFORMAT="smtp-source cpu: user=%Us sys=%Ss"; time smtp-source -s "$S" -m "$N" -l 2048 -f bench@bench.example -t "$to" \
	127.0.0.1:$port
end=$(date +%s.%N)
accepted=$(grep -c ': from=<' "$dir/log" || true)
cpu_report() {
	# CPU seconds used by each postbote process (all its threads)
	for c in $(pgrep -P "$pid"); do
		name=$(grep -o "process=[a-z]* pid=$c" "$dir/log" | cut -d' ' -f1 | cut -d= -f2)
		awk -v n="$name" -v t="$(getconf CLK_TCK)" \
		    '{ printf "%s=%.2fs ", n, ($14 + $15) / t }' "/proc/$c/stat"
	done
	echo
}
echo "$accepted" "$start" "$end" "$N" "$S" "$MODE" | awk '{
	t = $3 - $2; printf "mode=%s sessions=%d messages=%d accepted=%d seconds=%.2f rate=%.0f msg/s\n", $6, $5, $4, $1, t, $1 / t }'
[ "$MODE" = local ] || { printf 'cpu: '; cpu_report; }
if [ "$MODE" = local ]; then
	# Delivery finishes after the load; report how long it trailed.
	for i in $(seq 600); do
		n=$(ls "$dir/state/mail/bench.example/sink/new" 2>/dev/null | wc -l)
		[ "$n" -ge "$accepted" ] && break
		sleep 0.1
	done
	done_t=$(date +%s.%N)
	printf 'cpu: '; cpu_report
	echo "$n $start $done_t" | awk '{ printf "delivered=%d all-delivered-after=%.2f s (%.0f msg/s end to end)\n", $1, $3 - $2, $1 / ($3 - $2) }'
fi
