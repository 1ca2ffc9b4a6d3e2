/*
 * socket_file.c - the file of a unix socket the master bound for its
 * workers: noted when bound, and removed at exit.  Under --user the file
 * was created by the workers' user (net/sockets.c binds it as them), so
 * it is theirs already, with their umask and group.
 *
 * The master may be root acting on a path a worker controls, so nothing
 * here follows a symlink: the parent directory is opened without
 * following any (openat2 RESOLVE_NO_SYMLINKS, or component by component
 * where openat2 is missing), and the last name is handled relative to it.
 * At exit the name is removed only if it is still the socket we bound.
 *
 * Not here: binding it (listener.c).
 */
#include "net/socket_file.h"
#include "cluster.h"
#include "base/log.h"
#include "base/state.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 -1          /* headers older than the kernel: ENOSYS */
#endif

/*
 * The socket files we bound, as found right after bind: at exit we remove
 * our own socket and nothing else (a file another program put at the path
 * meanwhile stays).  Indexed by listener id.
 */
static struct {
	int known;
	dev_t dev;
	ino_t ino;
} bound_files[CLUSTER_MAX_LISTENERS];

/* l's socket path, NUL-terminated; 0 for an abstract name or not unix. */
static int unix_path(const struct listener *l, char *path, size_t cap)
{
	const struct sockaddr_un *un = (const void *)&l->req;
	size_t n;

	if (l->family != AF_UNIX || !un->sun_path[0])
		return 0;
	n = strnlen(un->sun_path, l->reqlen - offsetof(struct sockaddr_un, sun_path));
	if (n >= cap)
		return 0;
	memcpy(path, un->sun_path, n);
	path[n] = '\0';
	return 1;
}

static int has_dotdot(const char *path)
{
	const char *p;

	for (p = path; (p = strstr(p, "..")); p += 2)
		if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
			return 1;
	return 0;
}

/* RESOLVE_NO_SYMLINKS by hand where openat2 is missing (kernels before
 * 5.6, valgrind): one component at a time from the previous one's fd;
 * O_NOFOLLOW with O_DIRECTORY fails on a symlink (ENOTDIR, as O_PATH opens
 * a symlink itself otherwise), reported as ELOOP like openat2 does. */
static int walk_nofollow(char *dir)
{
	int fd = open(dir[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	char *p = dir;

	while (fd >= 0) {
		char *end, cut;
		int next, err;

		p += strspn(p, "/");
		if (!*p)
			break;
		end = p + strcspn(p, "/");
		cut = *end;
		*end = '\0';
		next = openat(fd, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		err = errno == ENOTDIR ? ELOOP : errno;
		*end = cut;
		close(fd);
		fd = next;
		if (fd < 0)
			errno = err;
		p = end;
	}
	return fd;
}

/*
 * --user: the master is root and the workers may own directories on the
 * socket's path.  AT_SYMLINK_NOFOLLOW guards only the last component: a
 * worker could swap a directory it owns for a symlink between bind and our
 * unlink at exit, and root would remove a file elsewhere.  So
 * the parent directory is opened with openat2(RESOLVE_NO_SYMLINKS) (or
 * walk_nofollow), and a ".." is refused too (renaming a directory it owns
 * would move where ".." leads); the last component is then acted on
 * relative to that fd.  The price: a socket file on a path through a
 * symlink (/var/run -> /run) is left in place at exit; the real path's
 * is removed.
 * Returns the directory fd (O_PATH), or -1 with errno (ELOOP: a symlink or
 * "..").  *name points into path, at the last component.
 */
static int open_parent(const char *path, const char **name)
{
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_NO_SYMLINKS,
	};
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path) + 2];
	const char *slash = strrchr(path, '/');
	int fd;

	if (has_dotdot(path)) {
		errno = ELOOP;
		return -1;
	}
	*name = slash ? slash + 1 : path;
	if (!**name || strlen(path) >= sizeof(dir)) {
		errno = EINVAL;
		return -1;
	}
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	fd = (int)syscall(SYS_openat2, AT_FDCWD, dir, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		fd = walk_nofollow(dir);
	return fd;
}

static void say_cannot_reach(const struct listener *l, const char *what)
{
	if (errno == ELOOP)
		log_warnx("%s: %s: a symlink or \"..\" on the path (give its real path)",
			  l->name, what);
	else
		log_warn("%s: %s", l->name, what);
}

/* Note the socket file just bound (see bound_files). */
void socket_file_adopt(struct cluster *c, const struct listener *l)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
	const char *name = path;
	struct stat st;
	int dir = AT_FDCWD;

	if (!unix_path(l, path, sizeof(path)))
		return;
	bound_files[l->id].known = 0;
	if (c->creds.drop && (dir = open_parent(path, &name)) < 0) {
		say_cannot_reach(l, "socket file left in place at exit");
		return;
	}
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISSOCK(st.st_mode)) {
		if (c->creds.drop)
			log_warnx("%s: the socket file is gone or replaced; left in place "
				  "at exit", l->name);
	} else {
		bound_files[l->id].known = 1;
		bound_files[l->id].dev = st.st_dev;
		bound_files[l->id].ino = st.st_ino;
	}
	if (dir != AT_FDCWD)
		close(dir);
}

/* The program's own unlink at exit was kept from it (hooks_path.c): do it
 * for the program, if the path still names the socket we bound. */
void socket_file_remove(struct cluster *c, const struct listener *l)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
	const char *name = path;
	struct stat st;
	int dir = AT_FDCWD;

	if (!unix_path(l, path, sizeof(path)) || !bound_files[l->id].known)
		return;
	bound_files[l->id].known = 0;
	if (c->creds.drop && (dir = open_parent(path, &name)) < 0) {
		say_cannot_reach(l, "socket file left in place");
		return;
	}
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISSOCK(st.st_mode) ||
	    st.st_dev != bound_files[l->id].dev || st.st_ino != bound_files[l->id].ino)
		log_debug("%s: the path no longer names our socket; left alone", l->name);
	else if (unlinkat(dir, name, 0) < 0)
		log_warn("%s: removing the socket file", l->name);
	if (dir != AT_FDCWD)
		close(dir);
}

/* Only the file's identity crosses: the check at exit stays "the path
 * still names the socket we bound", however many upgrades later. */
void socket_file_save(const struct listener *l, struct state_out *o)
{
	if (l->id >= CLUSTER_MAX_LISTENERS || !bound_files[l->id].known)
		return;
	state_u64(o, "file_dev", (uint64_t)bound_files[l->id].dev);
	state_u64(o, "file_ino", (uint64_t)bound_files[l->id].ino);
}

void socket_file_restore(const struct listener *l, const struct state_rec *r)
{
	if (l->id >= CLUSTER_MAX_LISTENERS)
		return;
	bound_files[l->id].known = rec_has(r, "file_ino");
	bound_files[l->id].dev = (dev_t)rec_u64(r, "file_dev", 0);
	bound_files[l->id].ino = (ino_t)rec_u64(r, "file_ino", 0);
}
