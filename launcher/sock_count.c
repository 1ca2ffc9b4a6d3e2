#include "seccomp.h"
int sock_count_conns(pid_t pgid, uint16_t port) { (void)pgid; (void)port; return -1; }
