#!/bin/sh
# Checker CPU at ~10,000 TCP checks/s: keeplite's CheckIo vs keepalived 2.2.7's checker
# process, same 10,000 real servers (delay_loop 1 s) in private netns.
# Also the whole daemon (`keeplite -n -l`, this tree's release build or KL=binary) with the same
# configuration as keepalived: it runs its checks without IPVS.
# Usage (root): bench/check-bench.sh            env: N WARM KA_WARM KA_MAX WINDOW RUNS, KL BIN (binaries to use instead of building)
# KL0 BIN0: a second (before) build of both, measured in the same rounds as KL and BIN.
# METHODS (default "lo veth", each round runs both):
#   lo    the real servers are 127.1.x.y in the checker's own netns: the kernel runs both ends
#         of every handshake (and the listener's side of the reset) in the checker's syscalls.
#   veth  the real servers are 10.1.x.y in a second netns behind a veth pair (one listener on
#         0.0.0.0:80, `ip route add local 10.1.0.0/16 dev lo`); RPS steers the server side's
#         receive to CPU 1 and the checker side's to CPU 0; the checkers (CheckIo loop, both
#         daemons, keepalived and its checker child) are pinned to CPU 0, the listener to CPU 1.
# Checks are counted by the SYN-ACKs the real servers' kernel sends (an nft counter on the
# listener namespace's output hook, one rule for every packet it sends, the same for every
# checker): a TCP_CHECK's connect succeeds on it. keeplite's checks end inside the handshake
# (they hold back the last ACK and reset after the SYN-ACK), so the listener accepts none of
# them; the count of connections it accepted is printed too (keepalived's: one per check).
# Each line gives the CPU billed to the checker process per successful check (utime + stime, which
# the kernel scales to the scheduler's runtime; softirqs run in its context are its own, as this
# kernel has no IRQ time accounting) and the whole machine's busy CPU per check (/proc/stat, all
# CPUs, user+nice+system+irq+softirq over the same window: the listener, softirqs on either CPU,
# and anything else running, so only meaningful on an otherwise quiet host).
# keepalived's checker needs IPVS, which this kernel lacks: bench/check-ipvs-shim.c
# (LD_PRELOAD) acknowledges its IPVS netlink requests without a kernel.
set -eu
N=${N:-10000}; WINDOW=${WINDOW:-20}; RUNS=${RUNS:-3}; METHODS=${METHODS:-lo veth}
# keepalived needs ~40 s to start 10,000 checkers (minutes on a loaded host), then settles;
# keeplite starts at once. keepalived is measured once its rate over 5 s reaches 80 % of the
# rate keeplite's daemon reached in the same round (at most KA_MAX s after its start).
WARM=${WARM:-10}; KA_WARM=${KA_WARM:-40}; KA_MAX=${KA_MAX:-300}
cd "$(dirname "$0")/.."
if [ -z "${KL:-}" ]; then
	cargo build --release --locked -q
	KL=$PWD/target/release/keeplite
fi
BIN=${BIN:-$(cargo bench --bench check_tcp --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))/\1/p')}
. bench/check-common.sh
bench_netns klchk
ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.core.somaxconn=65535
ip netns exec "$ns" "$BIN" listen 80 >"$tmp/accepts.lo" &
pids="$pids $!"
rs_conf "$N" >"$tmp/ka.lo.conf"

srv=klsrv$$
netns_new "$srv"
ip -n "$ns" link add veth0 type veth peer name veth1 netns "$srv"
ip -n "$ns" addr add 10.9.0.1/30 dev veth0
ip -n "$srv" addr add 10.9.0.2/30 dev veth1
ip -n "$ns" link set veth0 up
ip -n "$srv" link set veth1 up
ip -n "$ns" route add 10.1.0.0/16 via 10.9.0.2
ip -n "$srv" route add local 10.1.0.0/16 dev lo
ip netns exec "$srv" sysctl -qw net.core.somaxconn=65535
ip netns exec "$ns" sh -c 'echo 1 >/sys/class/net/veth0/queues/rx-0/rps_cpus'
ip netns exec "$srv" sh -c 'echo 2 >/sys/class/net/veth1/queues/rx-0/rps_cpus'
taskset -c 1 ip netns exec "$srv" "$BIN" listen 80 >"$tmp/accepts.veth" &
pids="$pids $!"
# Wait until the real servers answer through the veth pair (one smoke run that began at once saw
# every check of its first contest time out).
i=0
until ip netns exec "$ns" nc -z -w 1 10.1.0.1 80 >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 10 ] || { echo "error: the veth real servers (10.1.0.1) do not answer" >&2; exit 1; }
done
rs_conf "$N" 10 >"$tmp/ka.veth.conf"

hz=$(getconf CLK_TCK)
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
# synack_counter NETNS: counts the SYN-ACKs sent from port 80 in NETNS.
synack_counter() {
	ip netns exec "$1" nft -f - <<-'EOF'
	table ip klbench {
		counter synack {}
		chain out { type filter hook output priority 0; tcp sport 80 tcp flags & (syn | ack) == syn | ack counter name synack; }
	}
	EOF
}
synack_counter "$ns"
synack_counter "$srv"
accepts() { tail -n 1 "$tmp/accepts.$m"; }
checks() {
	case $m in lo) n=$ns ;; *) n=$srv ;; esac
	ip netns exec "$n" nft list counter ip klbench synack | awk '/packets/ {print $2}'
}
# busy: the whole machine's busy CPU ticks (user nice system irq softirq), all CPUs
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
# measure PID WARM: user and system CPU seconds over WINDOW, checks/s (SYN-ACKs), connections
# the listener accepted a second, us/check of the process and of the whole machine, RSS kB,
# open fds
measure() {
	sleep "$2"
	a0=$(accepts)
	set -- "$1" $(ticks "$1") "$(checks)" "$(busy)"
	sleep "$WINDOW"
	set -- "$@" $(ticks "$1") "$(checks)" "$(busy)"
	acc=$((($(accepts) - a0) / WINDOW))
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$1/status")
	fds=$(ls "/proc/$1/fd" | wc -l)
	printf "user %.2f sys %.2f total %.2f cpu_s, %d checks/s, %d accepted/s, %.1f us/check, machine %.1f us/check, rss %d kB, fds %d, load %s\n" \
		"$(echo "($6 - $2) / $hz" | bc -l)" "$(echo "($7 - $3) / $hz" | bc -l)" \
		"$(echo "($6 + $7 - $2 - $3) / $hz" | bc -l)" $((($8 - $4) / WINDOW)) "$acc" \
		"$(echo "($6 + $7 - $2 - $3) / $hz / ($8 - $4) * 1000000" | bc -l)" \
		"$(echo "($9 - $5) / $hz / ($8 - $4) * 1000000" | bc -l)" "$rss" "$fds" \
		"$(cut -d' ' -f1 /proc/loadavg)"
}
# ka_settle SECONDS_SINCE_START: waits until keepalived's checks reach 80 % of $rate.
ka_settle() {
	t=$1
	while [ "$t" -lt "$KA_MAX" ]; do
		a=$(checks); sleep 5; t=$((t + 5))
		[ $(($(checks) - a)) -ge $((rate * 4)) ] && return
	done
	# KA_MAX reached: measure anyway (the rate is in the line), without failing the script.
	true
}

# contest LABEL CHECK_TCP KEEPLITE ROUND: the CheckIo loop, then the daemon, with method $m;
# sets rate.
contest() {
	$pin ip netns exec "$ns" "$2" run "$N" "$net" 2>"$tmp/kl.err" &
	p=$!
	echo "$m keeplite$1   run $4: $(measure $p "$WARM")"
	kill $p; wait $p 2>/dev/null || true
	grep -c down "$tmp/kl.err" | xargs echo "$m keeplite$1   down events:"

	$pin ip netns exec "$ns" "$3" -n -l -f "$tmp/ka.$m.conf" --control "$tmp/kl.sock" >"$tmp/kld.log" 2>&1 &
	p=$!
	res=$(measure $p "$WARM")
	echo "$m keeplite$1 daemon run $4: $res"
	rate=$(echo "$res" | sed 's|.* \([0-9]*\) checks/s.*|\1|')
	kill $p; wait $p 2>/dev/null || true
	grep -c "real server .* down" "$tmp/kld.log" | xargs echo "$m keeplite$1 daemon down events:"
}

for r in $(seq "$RUNS"); do
	for m in $METHODS; do
		case $m in
		lo) net=127 pin= ;;
		veth) net=10 pin="taskset -c 0" ;;
		*) echo "error: unknown method '$m' in METHODS (lo, veth)" >&2; exit 2 ;;
		esac
		[ -n "${KL0:-}" ] && contest " before" "$BIN0" "$KL0" "$r"
		contest "" "$BIN" "$KL" "$r"

		rm -f "$tmp/ka.pid" "$tmp/ka.chk"
		LD_PRELOAD="$tmp/shim.so" $pin ip netns exec "$ns" keepalived -n -l -C \
			-f "$tmp/ka.$m.conf" -p "$tmp/ka.pid" -c "$tmp/ka.chk" >"$tmp/ka.log" 2>&1 &
		p=$!
		while [ ! -s "$tmp/ka.chk" ]; do sleep 0.1; done
		sleep "$KA_WARM"
		ka_settle "$KA_WARM"
		echo "$m keepalived run $r: $(measure "$(cat "$tmp/ka.chk")" 0)"
		kill $p; wait $p 2>/dev/null || true
		grep -c "TCP_CHECK.*failed" "$tmp/ka.log" | xargs echo "$m keepalived down events:"
	done
done
