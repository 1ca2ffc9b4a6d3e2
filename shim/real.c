/*
 * real.c - lazily bound pointers to the next definition of each hooked
 * function (normally glibc's).  A symbol that cannot be found falls back to
 * the raw system call, so a missing wrapper in an old libc never turns into
 * a NULL call inside the host program.
 *
 * Owns the pointers and their one-time binding.  Must not call any other
 * shim module or an exported hook: it is the bottom every module and
 * every hook stands on, reached even before the constructor ran.
 */
#include "real.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct {
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*listen)(int, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*accept)(int, struct sockaddr *, socklen_t *);
	int (*getsockname)(int, struct sockaddr *, socklen_t *);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*shutdown)(int, int);
	int (*close)(int);
	int (*close_range)(unsigned int, unsigned int, int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*fcntl)(int, int, ...);
	int (*ioctl)(int, unsigned long, ...);
	int (*epoll_ctl)(int, int, int, void *);
	int (*unlink)(const char *);
	int (*unlinkat)(int, const char *, int);
	long (*syscall)(long, ...);
} libc;

static pthread_once_t bound = PTHREAD_ONCE_INIT;

static void *next(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

/* Function and object pointers are interchangeable on every platform glibc
 * supports (POSIX requires it for dlsym); the cast goes through void *. */
#define BIND_NEXT(field) (*(void **)&libc.field = next(#field))

static void bind_all(void)
{
	int saved = errno;

	BIND_NEXT(bind);
	BIND_NEXT(listen);
	BIND_NEXT(connect);
	BIND_NEXT(accept4);
	BIND_NEXT(accept);
	BIND_NEXT(getsockname);
	BIND_NEXT(getpeername);
	BIND_NEXT(getsockopt);
	BIND_NEXT(setsockopt);
	BIND_NEXT(shutdown);
	BIND_NEXT(close);
	BIND_NEXT(close_range);
	BIND_NEXT(dup);
	BIND_NEXT(dup2);
	BIND_NEXT(dup3);
	BIND_NEXT(fcntl);
	BIND_NEXT(ioctl);
	BIND_NEXT(epoll_ctl);
	BIND_NEXT(unlink);
	BIND_NEXT(unlinkat);
	BIND_NEXT(syscall);
	errno = saved;
}

#define LIBC(field) (pthread_once(&bound, bind_all), libc.field)

void real_init(void)
{
	pthread_once(&bound, bind_all);
}

int real_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	if (LIBC(bind))
		return libc.bind(fd, addr, len);
	return (int)real_syscall(SYS_bind, fd, addr, len);
}

int real_listen(int fd, int backlog)
{
	if (LIBC(listen))
		return libc.listen(fd, backlog);
	return (int)real_syscall(SYS_listen, fd, backlog);
}

int real_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	if (LIBC(connect))
		return libc.connect(fd, addr, len);
	return (int)real_syscall(SYS_connect, fd, addr, len);
}

int real_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	if (LIBC(accept4))
		return libc.accept4(fd, addr, len, flags);
	return (int)real_syscall(SYS_accept4, fd, addr, len, flags);
}

int real_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	if (LIBC(accept))
		return libc.accept(fd, addr, len);
	return (int)real_syscall(SYS_accept4, fd, addr, len, 0);
}

int real_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	if (LIBC(getsockname))
		return libc.getsockname(fd, addr, len);
	return (int)real_syscall(SYS_getsockname, fd, addr, len);
}

int real_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	if (LIBC(getpeername))
		return libc.getpeername(fd, addr, len);
	return (int)real_syscall(SYS_getpeername, fd, addr, len);
}

int real_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	if (LIBC(getsockopt))
		return libc.getsockopt(fd, level, name, val, len);
	return (int)real_syscall(SYS_getsockopt, fd, level, name, val, len);
}

int real_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	if (LIBC(setsockopt))
		return libc.setsockopt(fd, level, name, val, len);
	return (int)real_syscall(SYS_setsockopt, fd, level, name, val, len);
}

int real_shutdown(int fd, int how)
{
	if (LIBC(shutdown))
		return libc.shutdown(fd, how);
	return (int)real_syscall(SYS_shutdown, fd, how);
}

int real_close(int fd)
{
	if (LIBC(close))
		return libc.close(fd);
	return (int)real_syscall(SYS_close, fd);
}

int real_close_range(unsigned int first, unsigned int last, int flags)
{
	if (LIBC(close_range))
		return libc.close_range(first, last, flags);
	return (int)real_syscall(SYS_close_range, first, last, flags);
}

int real_dup(int fd)
{
	if (LIBC(dup))
		return libc.dup(fd);
	return (int)real_syscall(SYS_dup, fd);
}

int real_dup2(int oldfd, int newfd)
{
	if (LIBC(dup2))
		return libc.dup2(oldfd, newfd);
	return (int)real_syscall(SYS_dup2, oldfd, newfd);
}

int real_dup3(int oldfd, int newfd, int flags)
{
	if (LIBC(dup3))
		return libc.dup3(oldfd, newfd, flags);
	return (int)real_syscall(SYS_dup3, oldfd, newfd, flags);
}

int real_fcntl(int fd, int cmd, void *arg)
{
	if (LIBC(fcntl))
		return libc.fcntl(fd, cmd, arg);
	return (int)real_syscall(SYS_fcntl, fd, cmd, arg);
}

int real_ioctl(int fd, unsigned long req, void *arg)
{
	if (LIBC(ioctl))
		return libc.ioctl(fd, req, arg);
	return (int)real_syscall(SYS_ioctl, fd, req, arg);
}

int real_epoll_ctl(int epfd, int op, int fd, void *event)
{
	if (LIBC(epoll_ctl))
		return libc.epoll_ctl(epfd, op, fd, event);
	return (int)real_syscall(SYS_epoll_ctl, epfd, op, fd, event);
}

int real_unlink(const char *path)
{
	if (LIBC(unlink))
		return libc.unlink(path);
	return (int)real_syscall(SYS_unlink, path);
}

int real_unlinkat(int dirfd, const char *path, int flags)
{
	if (LIBC(unlinkat))
		return libc.unlinkat(dirfd, path, flags);
	return (int)real_syscall(SYS_unlinkat, dirfd, path, flags);
}

/* The shim exports syscall() too (hooks_fd.c), so a plain syscall() call
 * from inside the shim would come back to the hook: every fallback above
 * goes through libc's own.  Six arguments, as the kernel takes at most. */
long (real_syscall)(long number, long a, long b, long c, long d, long e, long f)
{
	if (LIBC(syscall))
		return libc.syscall(number, a, b, c, d, e, f);
	errno = ENOSYS;
	return -1;
}
