# lib.sh - set-up shared by the bench scripts (sourced, not run).
# bench_setup NAME: $dir, a fresh directory that the server's unprivileged
# processes can enter, with the common global keys in $dir/postbote.conf
# (append listeners and the rest), and $port, a loopback port to use.
bench_setup() {
	dir=$(mktemp -d "/tmp/postbote-$1.XXXXXX")
	chmod 755 "$dir"
	port=$((30000 + $$ % 20000))
	printf '%s\n' "hostname = bench.example" "domains = bench.example" \
	    "state_dir = $dir/state" "resolver = 127.0.0.1:53" \
	    > "$dir/postbote.conf"
}
