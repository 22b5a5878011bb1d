# Sourced by bench/check-bench.sh and bench/check-rss.sh from the repository's root.

. tests/lib/netns.sh

# bench_netns TAG: sets tmp (a private directory), ns (a network namespace with lo up) and
# pids (to kill at exit), and builds keepalived's IPVS shim; all removed at exit.
bench_netns() {
	tmp=$(mktemp -d "/tmp/$1.XXXXXX")
	ns=$1$$
	pids=""
	trap cleanup EXIT INT TERM
	gcc -shared -fPIC -O2 -o "$tmp/shim.so" bench/check-ipvs-shim.c -ldl
	netns_new "$ns"
}

# Kills what the bench started (keepalived by its pid files too), removes its netns and files.
cleanup() {
	for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
	for f in ka.pid ka.chk; do
		[ -f "$tmp/$f" ] && kill -9 "$(cat "$tmp/$f")" 2>/dev/null || true
	done
	netns_cleanup
	rm -rf "$tmp"
}

# rs_conf N [NET] prints one virtual server with N real servers NET.1.x.y:80 (NET 127 by
# default; TCP_CHECK, delay_loop 1), the same for keeplite and keepalived.
rs_conf() {
	echo 'global_defs { router_id klbench }'
	echo 'virtual_server 10.0.0.1 80 {'
	echo '  delay_loop 1'
	echo '  lb_algo rr'
	echo '  lb_kind NAT'
	echo '  protocol TCP'
	i=0
	while [ $i -lt "$1" ]; do
		echo "  real_server ${2:-127}.$((1 + i / 62500)).$((i / 250 % 250)).$((i % 250 + 1)) 80 { TCP_CHECK { connect_timeout 3 } }"
		i=$((i + 1))
	done
	echo '}'
}
