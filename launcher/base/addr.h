/*
 * addr.h - parse ADDR:PORT (IPv4, or [IPv6]) for --metrics.
 */
#ifndef LAUNCHER_ADDR_H
#define LAUNCHER_ADDR_H

#include <sys/socket.h>

/* 0 and the address in ss (its length in len), or -1 when s is not
 * "IPv4:PORT" or "[IPv6]:PORT" with PORT 0..65535. */
int addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len);

#endif
