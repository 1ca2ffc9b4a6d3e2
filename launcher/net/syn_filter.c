/*
 * syn_filter.c - a classic BPF socket filter (SO_ATTACH_FILTER) that drops
 * the SYNs reaching a listening TCP socket, so that a listener about to
 * close stops completing new handshakes while the connections already in
 * its accept queue stay there to be accepted.  A dropped SYN is not
 * refused: the client retransmits it (1 s, then 2 s, ...), and reaches a
 * successor that binds the port meanwhile.  Not here: when a listener
 * closes (listener.c), who accepts what is queued (policy/, supervise/).
 *
 * Facts checked on this machine's kernel (6.18) with a small C program
 * (doc: docs-pending/stopq.md):
 *   - a socket filter on a TCP socket sees the skb with its data at the
 *     TCP header (tcp_v4_rcv/tcp_v6_rcv pulled the IP header; tcp_filter
 *     runs there), so byte 13 is the flags byte, for IPv4 and IPv6 and
 *     whatever the IP options.  Dropping (flags & (SYN|ACK)) == SYN kept a
 *     new connect pending while the one queued before stayed queued; a
 *     filter dropping pure ACKs (flags == ACK) at the same offset left a
 *     handshake half done (the client established, nothing queued), so
 *     the offset reads the flags of every segment, not only the SYN's.
 *     (SKF_NET_OFF + 33 does the same for IPv4 without options only.)
 *   - the filter must pass everything but the SYN: the listener's filter
 *     is copied to every connection it completes afterwards (sk_clone),
 *     and it runs on the final ACK of a handshake already under way.  A
 *     drop-everything filter would leave those connections half open and
 *     then deaf; this one lets them complete and live.
 *   - SO_DETACH_FILTER wants an int-sized optval (EINVAL otherwise); after
 *     it, a pending connect completed on its next SYN retransmit.
 */
#include "net/syn_filter.h"

#include <linux/filter.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#define TCP_FLAGS_OFF   13      /* from the TCP header: see the file comment */
#define FLAG_SYN        0x02
#define FLAG_ACK        0x10

int syn_filter_attach(int fd)
{
	static struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, TCP_FLAGS_OFF),
		BPF_STMT(BPF_ALU | BPF_AND | BPF_K, FLAG_SYN | FLAG_ACK),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FLAG_SYN, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0),                   /* a SYN: drop */
		BPF_STMT(BPF_RET | BPF_K, 0xffffffffu),         /* the rest, whole */
	};
	struct sock_fprog fp = { .len = sizeof(prog) / sizeof(prog[0]), .filter = prog };

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp));
}

int syn_filter_detach(int fd)
{
	int unused = 0;

	return setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof(unused));
}
