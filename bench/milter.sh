#!/usr/bin/env bash
# milter.sh - smtp-source.sh (20 sessions, 2 KiB messages, queue mode:
# no Maildir writes) without a milter, then through one that asks for every
# step and answers continue to each (bench/milter_continue.c, built here:
# a filter in C, so that the filter's own CPU stays small next to the
# client's), interleaved; prints both rates and the ratio.
# Usage: bash bench/milter.sh [messages]
set -eu
N=${1:-5000}
here=$(dirname "$0")
port=$(( 20000 + RANDOM % 20000 ))
mkdir -p build/bench
cc -O2 -Wall -Wextra -Werror -o build/bench/milter_continue "$here/milter_continue.c"
build/bench/milter_continue "$port" &
mpid=$!
trap 'kill $mpid 2>/dev/null; wait $mpid 2>/dev/null' EXIT
sleep 0.5
rate() { grep -o 'rate=[0-9]*' | cut -d= -f2; }
for round in 1 2; do
	a=$(MODE=queue bash "$here/smtp-source.sh" "$N" 20 | tee /dev/stderr | rate)
	b=$(MODE=queue EXTRA="[milter bench]
socket = inet:127.0.0.1:$port" bash "$here/smtp-source.sh" "$N" 20 | tee /dev/stderr | rate)
	echo "round=$round no-milter=$a msg/s one-milter=$b msg/s ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b / a }')"
done
