/*
 * real_programs.c - the config files and command lines of the real servers
 * the integration suites run (test_real_servers.c, test_open_counts.c,
 * test_master_death.c), so that each suite states what it checks and not
 * how nginx wants its temp paths.  The contract is real_programs.h.
 */
#include "real_programs.h"

#include "harness.h"

#include <criterion/criterion.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *real_write_file(const char *dir, const char *name, mode_t mode,
			    const char *fmt, ...)
{
	static char paths[4][256];
	static int next;
	char *path = paths[next++ % 4];
	va_list ap;
	FILE *f;
	int fd;

	snprintf(path, 256, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
	f = fdopen(fd, "w");
	cr_assert(f);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	cr_assert(fclose(f) == 0);
	/* the umask may have taken bits open() was given */
	cr_assert(chmod(path, mode) == 0);
	return path;
}

void real_make_subdir(const char *dir, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_assert(mkdir(path, 0755) == 0 || errno == EEXIST, "%s: %s", path, strerror(errno));
}

const char *const *real_nginx_command(struct real_command *c, const char *dir, int port)
{
	const char *conf = real_write_file(dir, "nginx.conf", 0644,
		"daemon off;\n"
		"master_process on;\n"
		"worker_processes 2;\n"
		"error_log stderr warn;\n"
		"events { worker_connections 256; }\n"
		"http {\n"
		"  access_log off;\n"
		"  client_body_temp_path %1$s/body;\n"
		"  proxy_temp_path %1$s/proxy;\n"
		"  fastcgi_temp_path %1$s/fastcgi;\n"
		"  uwsgi_temp_path %1$s/uwsgi;\n"
		"  scgi_temp_path %1$s/scgi;\n"
		"  server {\n"
		"    listen 127.0.0.1:%2$d;\n"
		"    location / { return 200 \"pid=$pid\\n\"; }\n"
		"  }\n"
		"}\n", dir, port);

	snprintf(c->arg[0], sizeof(c->arg[0]), "exec nginx -e stderr -p %1$s -c %2$s "
		 "-g \"pid %1$s/nginx.$CLUSTER_WORKER_ID.pid;\"", dir, conf);
	c->argv[0] = "sh";
	c->argv[1] = "-c";
	c->argv[2] = c->arg[0];
	c->argv[3] = NULL;
	return c->argv;
}

const char *const *real_lighttpd_command(struct real_command *c, const char *dir, int port,
					 enum real_answer answer)
{
	real_make_subdir(dir, "www");
	real_write_file(dir, "www/index.html", 0644, "ok\n");
	snprintf(c->arg[0], sizeof(c->arg[0]), "%s", real_write_file(dir, "lighttpd.conf", 0644,
		"server.document-root = \"%1$s/www\"\n"
		"server.bind = \"127.0.0.1\"\n"
		"server.port = %2$d\n"
		"server.errorlog = \"/dev/stderr\"\n"
		"index-file.names = ( \"index.html\" )\n"
		"%3$s", dir, port, answer == REAL_X_WORKER ?
		"server.modules += ( \"mod_setenv\" )\n"
		"setenv.add-response-header = ( \"X-Worker\" => env.CLUSTER_WORKER_ID )\n" : ""));
	c->argv[0] = "lighttpd";
	c->argv[1] = "-D";
	c->argv[2] = "-f";
	c->argv[3] = c->arg[0];
	c->argv[4] = NULL;
	return c->argv;
}

/* The X-Worker header for a shell printf format, and its argument. */
#define X_WORKER_FORMAT(answer) ((answer) == REAL_X_WORKER ? "X-Worker: %s\\r\\n" : "")
#define X_WORKER_ARG(answer) ((answer) == REAL_X_WORKER ? " \"$CLUSTER_WORKER_ID\"" : "")

static const char *busybox_path = "busybox";

void real_busybox_set(const char *path)
{
	busybox_path = path ? path : "busybox";
}

/* Whether the ELF file at path asks for a program interpreter (dynamic):
 * 1, 0 for a static one, -1 when it cannot be read as a 64-bit ELF. */
static int elf_dynamic(const char *path)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	int fd = open(path, O_RDONLY | O_CLOEXEC), i, r = -1;

	if (fd < 0)
		return -1;
	if (pread(fd, &eh, sizeof(eh), 0) == sizeof(eh) && !memcmp(eh.e_ident, ELFMAG, SELFMAG) &&
	    eh.e_ident[EI_CLASS] == ELFCLASS64) {
		r = 0;
		for (i = 0; i < eh.e_phnum; i++) {
			if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (Elf64_Off)i *
							      eh.e_phentsize)) != sizeof(ph)) {
				r = -1;
				break;
			}
			if (ph.p_type == PT_INTERP)
				r = 1;
		}
	}
	close(fd);
	return r;
}

const char *real_busybox(int want_static)
{
	static char found[1024];
	const char *env = getenv("STATIC_BUSYBOX"), *path = getenv("PATH");

	if (want_static && env && access(env, X_OK) == 0 && elf_dynamic(env) == 0)
		return env;
	for (; path && *path; path += strcspn(path, ":") + (path[strcspn(path, ":")] ? 1 : 0)) {
		snprintf(found, sizeof(found), "%.*s/busybox", (int)strcspn(path, ":"), path);
		if (access(found, X_OK) == 0)
			return elf_dynamic(found) == !want_static ? found : NULL;
	}
	return NULL;
}

const char *const *real_busybox_httpd_command(struct real_command *c, const char *dir,
					      int port, enum real_answer answer)
{
	real_make_subdir(dir, "cgi-bin");
	real_write_file(dir, "cgi-bin/index.cgi", 0755,
		"#!/bin/sh\n"
		"printf 'Content-Type: text/plain\\r\\n%s\\r\\nok\\n'%s\n",
		X_WORKER_FORMAT(answer), X_WORKER_ARG(answer));
	snprintf(c->arg[0], sizeof(c->arg[0]), "127.0.0.1:%d", port);
	snprintf(c->arg[1], sizeof(c->arg[1]), "%s", dir);
	c->argv[0] = busybox_path;
	c->argv[1] = "httpd";
	c->argv[2] = "-f";
	c->argv[3] = "-p";
	c->argv[4] = c->arg[0];
	c->argv[5] = "-h";
	c->argv[6] = c->arg[1];
	c->argv[7] = NULL;
	return c->argv;
}

/* The script sits in a file because socat's address syntax treats ':' and
 * '\' specially. */
const char *const *real_socat_fork_command(struct real_command *c, const char *dir, int port,
					   enum real_answer answer)
{
	const char *script = real_write_file(dir, "reply.sh", 0755,
		"#!/bin/sh\n"
		"while IFS= read -r line; do\n"
		"  case \"$line\" in ''|\"$(printf '\\r')\") break;; esac\n"
		"done\n"
		"printf 'HTTP/1.0 200 OK\\r\\n%s\\r\\nok\\n'%s\n",
		X_WORKER_FORMAT(answer), X_WORKER_ARG(answer));

	snprintf(c->arg[0], sizeof(c->arg[0]), "TCP-LISTEN:%d,bind=127.0.0.1,fork,reuseaddr",
		 port);
	snprintf(c->arg[1], sizeof(c->arg[1]), "EXEC:%s", script);
	c->argv[0] = "socat";
	c->argv[1] = c->arg[0];
	c->argv[2] = c->arg[1];
	c->argv[3] = NULL;
	return c->argv;
}

const char *const *real_memcached_command(struct real_command *c, int port)
{
	const char *const argv[] = { "memcached", "-l", "127.0.0.1", "-p", c->arg[0],
				     "-U", "0", "-t", "2",
				     geteuid() == 0 ? "-u" : NULL, "root", NULL };

	snprintf(c->arg[0], sizeof(c->arg[0]), "%d", port);
	memcpy(c->argv, argv, sizeof(argv));
	return c->argv;
}

int http_ask(int port, char *buf, size_t cap, int timeout_ms)
{
	int n = http_get("127.0.0.1", port, buf, cap, timeout_ms);

	if (n >= 0 && !strstr(buf, " 200 ")) {
		errno = EPROTO;
		return -1;
	}
	return n;
}

int memcached_ask(int port, char *buf, size_t cap, int timeout_ms)
{
	int n = tcp_request("127.0.0.1", port, "version\r\nstats\r\n", buf, cap,
			    "\r\nEND\r\n", timeout_ms);

	if (n >= 0 && strncmp(buf, "VERSION ", 8)) {
		errno = EPROTO;
		return -1;
	}
	return n;
}
