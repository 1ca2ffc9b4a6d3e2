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
#include <sys/uio.h>
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
/* The data path (hooks_io.c): every read and write of the program, so
 * bound once and then reached with one load, not through pthread_once. */
ssize_t real_read(int fd, void *buf, size_t n);
ssize_t real_readv(int fd, const struct iovec *iov, int cnt);
ssize_t real_recv(int fd, void *buf, size_t n, int flags);
ssize_t real_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
		      socklen_t *len);
ssize_t real_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t real_write(int fd, const void *buf, size_t n);
ssize_t real_writev(int fd, const struct iovec *iov, int cnt);
ssize_t real_send(int fd, const void *buf, size_t n, int flags);
ssize_t real_sendto(int fd, const void *buf, size_t n, int flags,
		    const struct sockaddr *addr, socklen_t len);
ssize_t real_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t real_sendfile(int out, int in, off_t *off, size_t n);
long real_syscall(long number, long a, long b, long c, long d, long e, long f);
/* Calls with fewer arguments: the rest are zero. */
#define real_syscall(n, ...) real_syscall_(n, __VA_ARGS__, 0, 0, 0, 0, 0, 0)
#define real_syscall_(n, a, b, c, d, e, f, ...) \
	real_syscall((long)(n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

#endif
