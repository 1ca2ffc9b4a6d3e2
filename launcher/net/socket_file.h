/*
 * socket_file.h - see socket_file.c.
 */
#ifndef LAUNCHER_NET_SOCKET_FILE_H
#define LAUNCHER_NET_SOCKET_FILE_H

#include <sys/types.h>

struct cluster;
struct listener;
struct state_out;
struct state_rec;

/* socket_file.c */
void socket_file_adopt(struct cluster *c, const struct listener *l);
void socket_file_remove(struct cluster *c, const struct listener *l);
/* An in-place upgrade: the file l's socket was bound at, as keys of the
 * listener's record (file_dev, file_ino), and back from that record. */
void socket_file_save(const struct listener *l, struct state_out *o);
void socket_file_restore(const struct listener *l, const struct state_rec *r);

#endif
