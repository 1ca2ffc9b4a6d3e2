/*
 * real.h - the libc functions the shim interposes, reached through
 * dlsym(RTLD_NEXT).  Every hook calls real_xxx() for sockets it does not
 * manage, and for the real work on the ones it does.  Binding is lazy and
 * done once (pthread_once), so hooks called before the shim's constructor
 * (from other libraries' constructors) work too.  See real.c for what it
 * owns.
 */
#ifndef SHIM_REAL_H
#define SHIM_REAL_H

#include <sys/socket.h>
#include <sys/types.h>

/* Bind every pointer now (the constructor); they are bound lazily
 * anyway. */
void real_init(void);
int real_bind(int fd, const struct sockaddr *addr, socklen_t len);
int real_listen(int fd, int backlog);
int real_connect(int fd, const struct sockaddr *addr, socklen_t len);
int real_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int real_accept(int fd, struct sockaddr *addr, socklen_t *len);
int real_getsockname(int fd, struct sockaddr *addr, socklen_t *len);
int real_getpeername(int fd, struct sockaddr *addr, socklen_t *len);
int real_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int real_setsockopt(int fd, int level, int name, const void *val, socklen_t len);
int real_shutdown(int fd, int how);
int real_close(int fd);
int real_close_range(unsigned int first, unsigned int last, int flags);
int real_dup(int fd);
int real_dup2(int oldfd, int newfd);
int real_dup3(int oldfd, int newfd, int flags);
int real_fcntl(int fd, int cmd, void *arg);
int real_ioctl(int fd, unsigned long req, void *arg);
int real_epoll_ctl(int epfd, int op, int fd, void *event);
int real_unlink(const char *path);
int real_unlinkat(int dirfd, const char *path, int flags);
long real_syscall(long number, long a, long b, long c, long d, long e, long f);
/* Calls with fewer arguments: the rest are zero. */
#define real_syscall(n, ...) real_syscall_(n, __VA_ARGS__, 0, 0, 0, 0, 0, 0)
#define real_syscall_(n, a, b, c, d, e, f, ...) \
	real_syscall((long)(n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

#endif
