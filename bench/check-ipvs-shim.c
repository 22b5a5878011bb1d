/* LD_PRELOAD shim for the checker benchmark: this kernel has no ip_vs, and keepalived's
 * checker process exits without it. The shim answers keepalived's libnl calls for the IPVS
 * generic-netlink family with success, so keepalived runs its checkers and every IPVS update
 * costs (almost) nothing, like in keeplite's benchmark which programs no IPVS either. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

struct nl_sock;
struct nl_msg;

/* keepalived waits for an ACK in a loop on a flag its netlink error callback receives. */
static int *ack_flag;

int nl_socket_modify_err_cb(struct nl_sock *sk, int kind, void *func, void *arg)
{
	int (*real)(struct nl_sock *, int, void *, void *) =
		(int (*)(struct nl_sock *, int, void *, void *))dlsym(RTLD_NEXT, "nl_socket_modify_err_cb");
	ack_flag = arg;
	return real(sk, kind, func, arg);
}

/* Pretend the "IPVS" generic netlink family exists. */
int genl_ctrl_resolve(struct nl_sock *sk, const char *name)
{
	(void)sk; (void)name;
	return 0x7fff;
}

/* Swallow requests... */
int nl_send_auto(struct nl_sock *sk, struct nl_msg *msg)
{
	(void)sk; (void)msg;
	return 1;
}

/* ...and acknowledge them at once. */
int nl_recvmsgs_default(struct nl_sock *sk)
{
	(void)sk;
	if (ack_flag)
		*ack_flag = 1;
	return 0;
}
