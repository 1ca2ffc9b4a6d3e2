#include "cluster.h"
#include "seccomp.h"
int seccomp_reuseport_give(struct worker *w, struct listener *l, int fd) { (void)w; (void)l; return fd; }
int seccomp_reuseport_owns(const struct listener *l, const struct stat *st) { (void)l; (void)st; return 0; }
