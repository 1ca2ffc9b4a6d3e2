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
#include <stdatomic.h>
#include <string.h>
#include <sys/sendfile.h>
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

/* The data path's: read with one acquire load (a plain load on x86) and
 * bound through bind_all only when still NULL. */
static struct {
	ssize_t (*_Atomic read)(int, void *, size_t);
	ssize_t (*_Atomic readv)(int, const struct iovec *, int);
	ssize_t (*_Atomic recv)(int, void *, size_t, int);
	ssize_t (*_Atomic recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*_Atomic recvmsg)(int, struct msghdr *, int);
	ssize_t (*_Atomic write)(int, const void *, size_t);
	ssize_t (*_Atomic writev)(int, const struct iovec *, int);
	ssize_t (*_Atomic send)(int, const void *, size_t, int);
	ssize_t (*_Atomic sendto)(int, const void *, size_t, int, const struct sockaddr *,
				  socklen_t);
	ssize_t (*_Atomic sendmsg)(int, const struct msghdr *, int);
	ssize_t (*_Atomic sendfile)(int, int, off_t *, size_t);
} io;

static pthread_once_t bound = PTHREAD_ONCE_INIT;

static void *next(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

/* Function and object pointers are interchangeable on every platform glibc
 * supports (POSIX requires it for dlsym); the cast goes through void *. */
#define BIND_NEXT(field) (*(void **)&libc.field = next(#field))

#define BIND_IO(field) do { \
		void *p_ = next(#field); \
		__typeof__(atomic_load(&io.field)) f_; \
		memcpy(&f_, &p_, sizeof(f_)); \
		atomic_store(&io.field, f_); \
	} while (0)

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
	BIND_IO(read);
	BIND_IO(readv);
	BIND_IO(recv);
	BIND_IO(recvfrom);
	BIND_IO(recvmsg);
	BIND_IO(write);
	BIND_IO(writev);
	BIND_IO(send);
	BIND_IO(sendto);
	BIND_IO(sendmsg);
	BIND_IO(sendfile);
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

/* The data path: one load; a symbol libc lacks falls back to the raw
 * call (bind_all left the pointer NULL). */
#define IO(field) io_fn_(&io.field)
#define io_fn_(slot) __extension__({ \
		__typeof__(atomic_load(slot)) f_ = atomic_load_explicit(slot, memory_order_acquire); \
		if (__builtin_expect(!f_, 0)) { \
			pthread_once(&bound, bind_all); \
			f_ = atomic_load(slot); \
		} \
		f_; })

ssize_t real_read(int fd, void *buf, size_t n)
{
	ssize_t (*f)(int, void *, size_t) = IO(read);

	return f ? f(fd, buf, n) : real_syscall(SYS_read, fd, buf, n);
}

ssize_t real_readv(int fd, const struct iovec *iov, int cnt)
{
	ssize_t (*f)(int, const struct iovec *, int) = IO(readv);

	return f ? f(fd, iov, cnt) : real_syscall(SYS_readv, fd, iov, cnt);
}

ssize_t real_recv(int fd, void *buf, size_t n, int flags)
{
	ssize_t (*f)(int, void *, size_t, int) = IO(recv);

	return f ? f(fd, buf, n, flags) : real_syscall(SYS_recvfrom, fd, buf, n, flags, 0, 0);
}

ssize_t real_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
		      socklen_t *len)
{
	ssize_t (*f)(int, void *, size_t, int, struct sockaddr *, socklen_t *) = IO(recvfrom);

	return f ? f(fd, buf, n, flags, addr, len)
		 : real_syscall(SYS_recvfrom, fd, buf, n, flags, addr, len);
}

ssize_t real_recvmsg(int fd, struct msghdr *msg, int flags)
{
	ssize_t (*f)(int, struct msghdr *, int) = IO(recvmsg);

	return f ? f(fd, msg, flags) : real_syscall(SYS_recvmsg, fd, msg, flags);
}

ssize_t real_write(int fd, const void *buf, size_t n)
{
	ssize_t (*f)(int, const void *, size_t) = IO(write);

	return f ? f(fd, buf, n) : real_syscall(SYS_write, fd, buf, n);
}

ssize_t real_writev(int fd, const struct iovec *iov, int cnt)
{
	ssize_t (*f)(int, const struct iovec *, int) = IO(writev);

	return f ? f(fd, iov, cnt) : real_syscall(SYS_writev, fd, iov, cnt);
}

ssize_t real_send(int fd, const void *buf, size_t n, int flags)
{
	ssize_t (*f)(int, const void *, size_t, int) = IO(send);

	return f ? f(fd, buf, n, flags) : real_syscall(SYS_sendto, fd, buf, n, flags, 0, 0);
}

ssize_t real_sendto(int fd, const void *buf, size_t n, int flags,
		    const struct sockaddr *addr, socklen_t len)
{
	ssize_t (*f)(int, const void *, size_t, int, const struct sockaddr *, socklen_t) =
		IO(sendto);

	return f ? f(fd, buf, n, flags, addr, len)
		 : real_syscall(SYS_sendto, fd, buf, n, flags, addr, len);
}

ssize_t real_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	ssize_t (*f)(int, const struct msghdr *, int) = IO(sendmsg);

	return f ? f(fd, msg, flags) : real_syscall(SYS_sendmsg, fd, msg, flags);
}

ssize_t real_sendfile(int out, int in, off_t *off, size_t n)
{
	ssize_t (*f)(int, int, off_t *, size_t) = IO(sendfile);

	return f ? f(out, in, off, n) : real_syscall(SYS_sendfile, out, in, off, n);
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
