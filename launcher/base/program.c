/*
 * program.c - resolve PROGRAM through PATH and look inside it.
 *
 * What cannot be clustered is refused up front, in one line, rather than
 * discovered as N workers fighting over a port (README, "What is
 * intercepted, and what cannot be"): a
 * setuid/setgid file (the loader drops LD_PRELOAD in secure mode, and
 * seccomp's no_new_privs would drop its privileges); --force runs it
 * anyway.  What the shim cannot reach is noted for mechanism/mechanism.c, which
 * clusters it through seccomp instead:
 *   - a statically linked ELF (no PT_INTERP): the dynamic loader never runs,
 *     so LD_PRELOAD is ignored;
 *   - a Go binary (.go.buildinfo section): Go makes its socket system calls
 *     directly, not through libc.
 * A script is checked for its interpreter.
 */
#include "base/program.h"
#include "base/log.h"
#include "base/options.h"
#include "base/spawn.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* execvp's search: a name with a slash is a path, else try each PATH entry. */
static int resolve(const char *name, char *out, size_t cap)
{
	const char *path = getenv("PATH"), *p;
	int found_noexec = 0;

	if (strchr(name, '/')) {
		if (snprintf(out, cap, "%s", name) >= (int)cap)
			return ENAMETOOLONG;
		return access(out, F_OK) == 0 ? 0 : errno;
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; ; p = strchr(p, ':') + 1) {
		size_t len = strcspn(p, ":");
		struct stat st;

		if (snprintf(out, cap, "%.*s%s%s", (int)len, len ? p : ".",
			     "/", name) < (int)cap &&
		    stat(out, &st) == 0 && S_ISREG(st.st_mode)) {
			if (access(out, X_OK) == 0)
				return 0;
			found_noexec = 1;
		}
		if (!p[len])
			break;
	}
	return found_noexec ? EACCES : ENOENT;
}

struct elf_facts {
	int is_elf;
	int has_interp;
	int is_go;
};

/* Read the ELF headers we need: program headers (PT_INTERP) and section
 * names (.go.buildinfo).  64-bit only: the shim is built for this machine. */
static void inspect_elf(int fd, struct elf_facts *f)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	Elf64_Shdr sh, strsh;
	char names[4096];
	int i;

	memset(f, 0, sizeof(*f));
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64)
		return;
	f->is_elf = 1;
	for (i = 0; i < eh.e_phnum; i++) {
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * eh.e_phentsize)) !=
		    (ssize_t)sizeof(ph))
			return;
		if (ph.p_type == PT_INTERP)
			f->has_interp = 1;
	}
	if (eh.e_shstrndx == SHN_UNDEF || eh.e_shstrndx >= eh.e_shnum ||
	    pread(fd, &strsh, sizeof(strsh),
		  (off_t)(eh.e_shoff + (uint64_t)eh.e_shstrndx * eh.e_shentsize)) != (ssize_t)sizeof(strsh))
		return;
	memset(names, 0, sizeof(names));
	if (pread(fd, names, sizeof(names) - 1, (off_t)strsh.sh_offset) <= 0)
		return;
	for (i = 0; i < eh.e_shnum; i++) {
		if (pread(fd, &sh, sizeof(sh), (off_t)(eh.e_shoff + (uint64_t)i * eh.e_shentsize)) !=
		    (ssize_t)sizeof(sh))
			return;
		if (sh.sh_name < sizeof(names) - 16 &&
		    (!strcmp(names + sh.sh_name, ".go.buildinfo") ||
		     !strcmp(names + sh.sh_name, ".note.go.buildid")))
			f->is_go = 1;
	}
}

/* "#!interp arg": the interpreter must exist, and so must env's PROGRAM. */
static int check_script(const char *path, const char *head)
{
	char line[256], interp[PATH_MAX], *p, *arg;
	size_t len = strcspn(head + 2, "\n");

	if (len >= sizeof(line))
		len = sizeof(line) - 1;
	memcpy(line, head + 2, len);
	line[len] = '\0';
	p = line + strspn(line, " \t");
	arg = p + strcspn(p, " \t");
	if (*arg)
		*arg++ = '\0';
	arg += strspn(arg, " \t");
	arg[strcspn(arg, " \t")] = '\0';
	if (!*p || access(p, X_OK) < 0) {
		log_warnx("%s: interpreter '%s' not found", path, p);
		return EXIT_NOT_FOUND;
	}
	if (!strcmp(p + strlen(p) - (strlen(p) >= 4 ? 4 : 0), "/env") && *arg &&
	    resolve(arg, interp, sizeof(interp)) != 0) {
		log_warnx("%s: interpreter '%s' not found in PATH", path, arg);
		return EXIT_NOT_FOUND;
	}
	return -1;
}

int program_refuse(const char *path, const char *why, int force)
{
	if (force) {
		log_warnx("%s %s; running it anyway (--force): expect workers "
			  "to fight over their ports", path, why);
		return -1;
	}
	log_warnx("%s %s, so cluster-run cannot share its sockets "
		  "(use --force to run it anyway)", path, why);
	return EXIT_CANNOT_EXEC;
}

int program_check(struct program *prog, const char *argv0, int force)
{
	struct elf_facts ef;
	struct stat st;
	char head[258];
	ssize_t n;
	int err, fd, ret;

	err = resolve(argv0, prog->path, sizeof(prog->path));
	if (err) {
		log_warnx("%s: %s", argv0, err == ENOENT ? "command not found" : strerror(err));
		return err == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC;
	}
	if (stat(prog->path, &st) < 0) {
		log_warn("%s", prog->path);
		return EXIT_NOT_FOUND;
	}
	if (S_ISDIR(st.st_mode)) {
		log_warnx("%s: is a directory", prog->path);
		return EXIT_CANNOT_EXEC;
	}
	if (!S_ISREG(st.st_mode) || access(prog->path, X_OK) < 0) {
		log_warnx("%s: not executable", prog->path);
		return EXIT_CANNOT_EXEC;
	}
	fd = open(prog->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)     /* execute-only file: exec will tell */
		return -1;
	memset(head, 0, sizeof(head));
	n = pread(fd, head, sizeof(head) - 1, 0);
	inspect_elf(fd, &ef);
	close(fd);
	if (n >= 2 && head[0] == '#' && head[1] == '!')
		return check_script(prog->path, head);
	ret = -1;
	if (ef.is_go)
		prog->shim_blind = "is a Go binary (Go calls the kernel directly, not libc)";
	else if (ef.is_elf && !ef.has_interp)
		prog->shim_blind = "is statically linked (LD_PRELOAD cannot reach it)";
	if (((st.st_mode & S_ISUID) && st.st_uid != geteuid()) ||
	    ((st.st_mode & S_ISGID) && st.st_gid != getegid())) {
		prog->setuid = 1;
		ret = program_refuse(prog->path, "is setuid/setgid (the loader ignores LD_PRELOAD, "
			     "and seccomp's no_new_privs would drop its privileges)", force);
	}
	return ret;
}

/* --user: the workers exec PROGRAM as that user, so ask the kernel as that
 * user, in a child that takes its credentials: otherwise a program only
 * root may run passes here and every worker crash-loops to 126. */
int program_check_user(const struct program *prog, const struct creds *cr, const char *user)
{
	int st, err = 0;
	pid_t pid;

	if (!cr->drop)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;      /* the workers will say it, if it is so */
	if (pid == 0) {
		if (setgroups((size_t)cr->ngroups, cr->groups) < 0 || setgid(cr->gid) < 0 ||
		    setuid(cr->uid) < 0)
			_exit(255);
		_exit(access(prog->path, X_OK) == 0 ? 0 : errno & 0xff);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(st))
		err = WEXITSTATUS(st);
	if (err == 0 || err == 255)
		return -1;
	log_warnx("%s: user %s cannot execute it (%s)", prog->path, user, strerror(err));
	return EXIT_CANNOT_EXEC;
}
