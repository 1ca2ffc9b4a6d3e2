/*
 * hooks_path.c - unlink() and unlinkat() of a unix socket the master serves.
 *
 * Servers commonly unlink their socket path before bind(), to clear a stale
 * file.  Under cluster-run the path belongs to the master's live socket: the
 * second worker's unlink would remove it from the file system, and no client
 * could connect any more.  So an unlink of a *socket file* asks the master
 * whether it serves that path; if so, the call pretends to succeed.  Other
 * files never cost a message: only paths that lstat() says are sockets ask.
 * The master removes its socket files itself when it exits.
 *
 * Owns the decision to pretend an unlink.  Must not remove or create any
 * file itself, or ask the master about a path that is not a socket.
 */
#include "shim.h"
#include "real.h"

#include <fcntl.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int shim_unlink(const char *path) SHIM_EXPORT(unlink);
int shim_unlinkat(int dirfd, const char *path, int flags) SHIM_EXPORT(unlinkat);

/* 1 when path names a socket the master serves (see the file comment);
 * -1 with errno ENOENT when there is nothing at path; 0 otherwise. */
static int served_socket(const char *path)
{
	struct sockaddr_un *un;
	struct msg_bind req;
	struct stat st;
	size_t len, clen = 0;
	int saved = errno, r;

	if (!path || !shim_enabled() || shim_vforked())
		return 0;
	if (lstat(path, &st) < 0) {
		/* Nothing there now.  Calling the real unlink() anyway could
		 * remove the socket the master creates a moment later for
		 * another worker (seen in the tests): answer as unlink would
		 * have when we looked. */
		if (errno == ENOENT)
			return -1;
		errno = saved;
		return 0;
	}
	if (!S_ISSOCK(st.st_mode)) {
		errno = saved;
		return 0;
	}
	memset(&req, 0, sizeof(req));
	un = (struct sockaddr_un *)&req.addr;
	un->sun_family = AF_UNIX;
	if (path[0] != '/') {
		if (!getcwd(un->sun_path, sizeof(un->sun_path)))
			goto no;
		clen = strlen(un->sun_path);
		un->sun_path[clen++] = '/';
	}
	len = strlen(path);
	if (clen + len + 1 > sizeof(un->sun_path))
		goto no;
	memcpy(un->sun_path + clen, path, len + 1);
	req.family = AF_UNIX;
	req.type = SOCK_STREAM;
	req.addrlen = (uint32_t)(offsetof(struct sockaddr_un, sun_path) + clen + len + 1);
	for (int tries = 0; tries < 3; tries++) {
		struct stat now;

		r = master_serves_path(&req);
		if (r != 0 || lstat(path, &now) < 0 ||
		    (now.st_dev == st.st_dev && now.st_ino == st.st_ino))
			break;
		/* a stale file the master did not know was replaced while we
		 * asked (another worker's bind): ask about the new one */
		st = now;
	}
	errno = saved;
	if (r > 0)
		shim_debug("unlink(%s): the master's socket, kept", path);
	return r > 0;
no:
	errno = saved;
	return 0;
}

int shim_unlink(const char *path)
{
	int r = served_socket(path);

	if (r != 0)
		return r > 0 ? 0 : -1;
	return real_unlink(path);
}

int shim_unlinkat(int dirfd, const char *path, int flags)
{
	/* Only paths we can name without dirfd: absolute or cwd-relative. */
	int r;

	if ((flags & AT_REMOVEDIR) || !path || (path[0] != '/' && dirfd != AT_FDCWD))
		return real_unlinkat(dirfd, path, flags);
	r = served_socket(path);
	if (r != 0)
		return r > 0 ? 0 : -1;
	return real_unlinkat(dirfd, path, flags);
}
