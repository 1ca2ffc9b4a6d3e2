/*
 * syn_filter.h - keep new TCP connections off a listening socket without
 * touching the ones already queued on it (syn_filter.c).
 */
#ifndef LAUNCHER_NET_SYN_FILTER_H
#define LAUNCHER_NET_SYN_FILTER_H

/* Drop every SYN that reaches listening TCP socket fd from now on; 0, or
 * -1 with errno. */
int syn_filter_attach(int fd);
/* Let SYNs in again; 0, or -1 with errno. */
int syn_filter_detach(int fd);

#endif
