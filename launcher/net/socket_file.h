/*
 * socket_file.h - see socket_file.c.
 */
#ifndef LAUNCHER_NET_SOCKET_FILE_H
#define LAUNCHER_NET_SOCKET_FILE_H

#include <sys/types.h>

struct cluster;
struct listener;

/* socket_file.c */
void socket_file_adopt(struct cluster *c, const struct listener *l);
void socket_file_remove(struct cluster *c, const struct listener *l);

#endif
