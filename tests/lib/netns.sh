# Network namespaces for the shell side (board/pc-x86_64/demo, bench/*): the shell twin of
# tests/common/mod.rs's `Netns`, `Netns::bridge` and `plug`, with the same rules. Links are made
# inside namespaces only, never in the root one; at exit everything running inside is killed and
# the namespaces are deleted. POSIX sh; source it, then:
#
#   . tests/lib/netns.sh
#   trap netns_cleanup EXIT
#   netns_new kldemo$$                      # namespace with lo up, deleted by netns_cleanup
#   netns_bridge kldemo$$ br0 10.77.2.1/24  # a bridge (the "switch"), optionally addressed
#   netns_new kldemob$$
#   netns_plug kldemo$$ br0 veb kldemob$$ eth0   # kldemob$$'s eth0 on that bridge (port veb)

KL_NETNS=

# netns_new NAME: a namespace with lo up, registered for netns_cleanup.
netns_new() {
	ip netns add "$1" || return
	KL_NETNS="$1 $KL_NETNS"
	ip -n "$1" link set lo up
}

# netns_bridge NS BR [ADDR/PLEN]: bridge BR in NS, up, forwarding at once (no STP delay).
netns_bridge() {
	ip -n "$1" link add "$2" type bridge forward_delay 0 || return
	[ -z "${3:-}" ] || ip -n "$1" addr add "$3" dev "$2" || return
	ip -n "$1" link set "$2" up
}

# netns_plug NS BR PORT NS2 IF: a veth from port PORT on bridge BR of NS to IF in NS2, both up.
netns_plug() {
	ip -n "$1" link add "$3" type veth peer name "$5" netns "$4" || return
	ip -n "$1" link set "$3" master "$2" up || return
	ip -n "$4" link set "$5" up
}

# netns_kill NS: SIGKILL every process running in NS (daemons, qemu, monitors).
netns_kill() {
	for p in $(ip netns pids "$1" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
}

# netns_cleanup: kill what runs in the registered namespaces, then delete them (newest first);
# safe under set -e.
netns_cleanup() {
	for ns in $KL_NETNS; do netns_kill "$ns"; done
	for ns in $KL_NETNS; do ip netns del "$ns" 2>/dev/null || true; done
	KL_NETNS=
}
