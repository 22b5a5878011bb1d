#!/bin/sh
# Checker CPU at ~10,000 TCP checks/s: keeplite's CheckIo vs keepalived 2.2.7's checker
# process, same 10,000 real servers (127.1.x.y:80, delay_loop 1 s) in a private netns.
# Usage (root): bench/check-bench.sh            env: N WARM KA_WARM WINDOW RUNS
# keepalived's checker needs IPVS, which this kernel lacks: bench/check-ipvs-shim.c
# (LD_PRELOAD) acknowledges its IPVS netlink requests without a kernel.
set -eu
N=${N:-10000}; WINDOW=${WINDOW:-20}; RUNS=${RUNS:-3}
# keepalived needs ~40 s to start 10,000 checkers, then settles; keeplite starts at once.
WARM=${WARM:-10}; KA_WARM=${KA_WARM:-70}
cd "$(dirname "$0")/.."
BIN=$(cargo bench --bench check_tcp --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))/\1/p')
. bench/check-common.sh
bench_netns klchk
ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.core.somaxconn=65535
ip netns exec "$ns" "$BIN" listen 80 >"$tmp/accepts" &
pids="$pids $!"

rs_conf "$N" >"$tmp/ka.conf"

hz=$(getconf CLK_TCK)
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
accepts() { tail -n 1 "$tmp/accepts"; }
# measure PID WARM: user and system CPU seconds over WINDOW, accepted checks/s, RSS kB
measure() {
	sleep "$2"
	set -- "$1" $(ticks "$1") "$(accepts)"
	sleep "$WINDOW"
	set -- "$@" $(ticks "$1") "$(accepts)"
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$1/status")
	printf "user %.2f sys %.2f total %.2f cpu_s, %d checks/s, rss %d kB\n" \
		"$(echo "($5 - $2) / $hz" | bc -l)" "$(echo "($6 - $3) / $hz" | bc -l)" \
		"$(echo "($5 + $6 - $2 - $3) / $hz" | bc -l)" $((($7 - $4) / WINDOW)) "$rss"
}

for r in $(seq "$RUNS"); do
	ip netns exec "$ns" "$BIN" run "$N" 2>"$tmp/kl.err" &
	p=$!
	echo "keeplite   run $r: $(measure $p "$WARM")"
	kill $p; wait $p 2>/dev/null || true
	grep -c down "$tmp/kl.err" | xargs echo "keeplite   down events:"

	rm -f "$tmp/ka.pid" "$tmp/ka.chk"
	LD_PRELOAD="$tmp/shim.so" ip netns exec "$ns" keepalived -n -l -C -f "$tmp/ka.conf" \
		-p "$tmp/ka.pid" -c "$tmp/ka.chk" >"$tmp/ka.log" 2>&1 &
	p=$!
	while [ ! -s "$tmp/ka.chk" ]; do sleep 0.1; done
	echo "keepalived run $r: $(measure "$(cat "$tmp/ka.chk")" "$KA_WARM")"
	kill $p; wait $p 2>/dev/null || true
	grep -c "TCP_CHECK.*failed" "$tmp/ka.log" | xargs echo "keepalived down events:"
done
