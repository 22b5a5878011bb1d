// The kernel's floor under bench/vrrp-bench's idle part: N VRRP v3 advert-sized frames (46
// bytes to 01:00:5e:00:00:12, VRIDs 1..N, checksums left zero: nobody here reads them) once
// a second in one sendmmsg on a packet socket, and nothing else: one timer, no lease
// refresh, no state. bench/idle-floor runs it.
// Usage: idle_floor IFNAME N   (N <= 256)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc != 3) return 2;
    int n = atoi(argv[2]);
    if (n < 1 || n > 256) return 2;
    int s = socket(AF_PACKET, SOCK_RAW, 0);  // protocol 0: send only
    if (s < 0) { perror("socket"); return 1; }
    struct sockaddr_ll ll = {0};
    ll.sll_family = AF_PACKET; ll.sll_ifindex = if_nametoindex(argv[1]); ll.sll_halen = 6;
    memcpy(ll.sll_addr, "\x01\x00\x5e\x00\x00\x12", 6);
    static unsigned char fr[256][60];
    struct mmsghdr mm[256]; struct iovec iov[256];
    for (int i = 0; i < n; i++) {
        unsigned char *f = fr[i];
        memcpy(f, "\x01\x00\x5e\x00\x00\x12\x00\x00\x5e\x00\x01", 11); f[11] = i + 1;
        f[12] = 0x08; f[13] = 0x00;  // IPv4
        unsigned char ip[20] = {0x45,0,0,32,0,0,0,0,255,112,0,0,10,99,0,1,224,0,0,18};
        memcpy(f + 14, ip, 20);
        unsigned char v[12] = {0x31, i + 1, 100, 1, 0, 100, 0, 0, 10, 99, 1, i + 1};
        memcpy(f + 34, v, 12);
        iov[i].iov_base = f; iov[i].iov_len = 46;
        memset(&mm[i], 0, sizeof mm[i]);
        mm[i].msg_hdr.msg_iov = &iov[i]; mm[i].msg_hdr.msg_iovlen = 1;
        mm[i].msg_hdr.msg_name = &ll; mm[i].msg_hdr.msg_namelen = sizeof ll;
    }
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
    for (;;) {
        int r = sendmmsg(s, mm, n, 0);
        if (r != n) perror("sendmmsg");
        t.tv_sec += 1;
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
    }
}
