#!/bin/sh
# Checker CPU at ~10,000 TCP checks/s: keeplite's CheckIo vs keepalived 2.2.7's checker
# process, same 10,000 real servers (127.1.x.y:80, delay_loop 1 s) in a private netns.
# Usage (root): bench/check-bench.sh            env: N WARM WINDOW RUNS
# keepalived's checker needs IPVS, which this kernel lacks: bench/check-ipvs-shim.c
# (LD_PRELOAD) acknowledges its IPVS netlink requests without a kernel.
set -eu
N=${N:-10000}; WARM=${WARM:-8}; WINDOW=${WINDOW:-20}; RUNS=${RUNS:-3}
cd "$(dirname "$0")/.."
BIN=$(cargo bench --bench check_tcp --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))/\1/p')
tmp=$(mktemp -d /tmp/klchk.XXXXXX)
ns=klchk$$
pids=""
cleanup() {
	for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
	[ -f "$tmp/ka.pid" ] && kill -9 "$(cat "$tmp/ka.pid")" 2>/dev/null || true
	[ -f "$tmp/ka.chk" ] && kill -9 "$(cat "$tmp/ka.chk")" 2>/dev/null || true
	sleep 0.5
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
gcc -shared -fPIC -O2 -o "$tmp/shim.so" bench/check-ipvs-shim.c -ldl
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
ip netns exec "$ns" "$BIN" listen 80 >"$tmp/accepts" &
pids="$pids $!"

# keepalived config: one virtual server, N real servers with TCP_CHECK.
{
	echo 'global_defs { router_id klbench }'
	echo 'virtual_server 10.0.0.1 80 {'
	echo '  delay_loop 1'
	echo '  lb_algo rr'
	echo '  lb_kind NAT'
	echo '  protocol TCP'
	i=0
	while [ $i -lt "$N" ]; do
		echo "  real_server 127.$((1 + i / 62500)).$((i / 250 % 250)).$((i % 250 + 1)) 80 { TCP_CHECK { connect_timeout 3 } }"
		i=$((i + 1))
	done
	echo '}'
} >"$tmp/ka.conf"

hz=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
accepts() { tail -n 1 "$tmp/accepts"; }
# measure PID: CPU seconds over WINDOW, accepted checks/s, RSS kB
measure() {
	sleep "$WARM"
	c0=$(cpu "$1"); a0=$(accepts)
	sleep "$WINDOW"
	c1=$(cpu "$1"); a1=$(accepts)
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$1/status")
	echo "$(echo "($c1 - $c0) / $hz" | bc -l | xargs printf %.2f) $(((a1 - a0) / WINDOW)) $rss"
}

for r in $(seq "$RUNS"); do
	ip netns exec "$ns" "$BIN" run "$N" 2>"$tmp/kl.err" &
	p=$!
	echo "keeplite  run $r: $(measure $p)  (cpu_s checks/s rss_kB)"
	kill $p; wait $p 2>/dev/null || true
	grep -c down "$tmp/kl.err" | xargs echo "keeplite  down events:"

	rm -f "$tmp/ka.pid" "$tmp/ka.chk"
	LD_PRELOAD="$tmp/shim.so" ip netns exec "$ns" keepalived -n -l -C -f "$tmp/ka.conf" \
		-p "$tmp/ka.pid" -c "$tmp/ka.chk" >"$tmp/ka.log" 2>&1 &
	p=$!
	while [ ! -s "$tmp/ka.chk" ]; do sleep 0.1; done
	echo "keepalived run $r: $(measure "$(cat "$tmp/ka.chk")")  (cpu_s checks/s rss_kB)"
	kill $p; wait $p 2>/dev/null || true
	grep -c "failed" "$tmp/ka.log" | xargs echo "keepalived failures logged:"
done
