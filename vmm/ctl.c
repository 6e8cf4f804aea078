/* `hutch ctl`: connects, sends one request line, reads one response line, prints it for people. */
#include "vmm/ctl.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmm/api.h"
#include "vmm/cli.h"
#include "vmm/json.h"

#define CTL_MAX_RESPONSE JSON_MAX_INPUT

int ctl_build_request(const struct ctl_config *cfg, char *buf, size_t size)
{
	struct json_writer w;

	json_writer_init(&w, buf, size);
	json_write_raw(&w, "{\"command\":");
	json_write_cstr(&w, cfg->command);
	for (unsigned i = 0; i < cfg->nargs; i++) {
		const char *arg = cfg->args[i];
		size_t keylen = cli_ctl_key_len(arg);

		json_write_raw(&w, i ? "," : ",\"arguments\":{");
		json_write_string(&w, arg, keylen);
		json_write_raw(&w, ":");
		if (arg[keylen] == ':') /* KEY:=JSON, checked by cli_parse */
			json_write_raw(&w, arg + keylen + 2);
		else
			json_write_cstr(&w, arg + keylen + 1);
	}
	if (cfg->pos_key) {
		json_write_raw(&w, ",\"arguments\":{");
		json_write_cstr(&w, cfg->pos_key);
		json_write_raw(&w, ":");
		json_write_cstr(&w, cfg->pos_value);
	}
	json_write_raw(&w, cfg->nargs || cfg->pos_key ? "}}\n" : "}\n");
	return w.overflow ? -ENOSPC : (int)w.len;
}

static int ctl_connect(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static int ctl_send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads up to the first newline into buf (terminated there); its length, or -errno. */
static ssize_t ctl_read_line(int fd, char *buf, size_t size)
{
	size_t len = 0;

	while (len < size - 1) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;
		char *nl;
		int ready = poll(&pfd, 1, CTL_TIMEOUT_MS);

		if (ready < 0 && errno == EINTR)
			continue;
		if (ready <= 0)
			return ready ? -errno : -ETIMEDOUT;
		n = recv(fd, buf + len, size - 1 - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n ? -errno : -ECONNRESET;
		nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
		if (nl) {
			*nl = '\0';
			return nl - buf;
		}
	}
	return -EMSGSIZE;
}

/* "running, 2 vCPUs, 512 MiB, up 12.3 s"; -1 when ret lacks a field. */
static int ctl_print_status(const struct json_value *ret)
{
	const char *state = json_get_string(ret, "state");
	int64_t vcpus, mem, uptime;

	if (!state || !json_get_int(ret, "vcpus", &vcpus) ||
	    !json_get_int(ret, "mem_bytes", &mem) || !json_get_int(ret, "uptime_ms", &uptime))
		return -1;
	printf("%s, %" PRId64 " vCPU%s, %" PRId64 " MiB, up %.1f s\n", state, vcpus,
	       vcpus == 1 ? "" : "s", mem >> 20, (double)uptime / 1000.0);
	return 0;
}

static int ctl_print_help(const struct json_value *ret)
{
	const struct json_value *cmds = json_get(ret, "commands"), *c;

	if (!cmds || cmds->type != JSON_ARRAY)
		return -1;
	c = json_first(cmds);
	for (unsigned i = 0; i < cmds->count; i++, c = json_next(c)) {
		const char *name = json_get_string(c, "name"), *help = json_get_string(c, "help");

		if (name)
			printf("  %-12s %s\n", name, help ? help : "");
	}
	return 0;
}

/* The exit status for a response line; prints what it says. */
static int ctl_show(const struct ctl_config *cfg, const char *line, size_t len)
{
	const struct json_value *root, *ret, *error;
	struct json_doc doc;
	size_t offset;
	enum json_error jerr = json_parse(line, len, &doc, &offset);
	int status = 2;

	if (jerr) {
		fprintf(stderr, "hutch: %s: malformed response (byte %zu: %s)\n", cfg->sock_path,
			offset, json_strerror(jerr));
		return 2;
	}
	root = json_root(&doc);
	ret = json_get(root, "return");
	error = json_get(root, "error");
	if (cfg->json) {
		printf("%s\n", line);
		status = ret ? 0 : error ? 1 : 2;
	} else if (error) {
		const char *msg = json_get_string(error, "message");

		fprintf(stderr, "hutch: ctl: %s\n", msg ? msg : "error without a message");
		status = 1;
	} else if (ret && ret->type == JSON_OBJECT) {
		status = 0;
		if ((!strcmp(cfg->command, "status") && ctl_print_status(ret)) ||
		    (!strcmp(cfg->command, "help") && ctl_print_help(ret)))
			status = 2;
	}
	if (status == 2 && !cfg->json)
		fprintf(stderr, "hutch: %s: unexpected response: %s\n", cfg->sock_path, line);
	json_free(&doc);
	return status;
}

/*
 * hutch writes a screendump itself, from its own working directory: a
 * relative FILE given to `screendump FILE` is made absolute here.
 */
static int ctl_absolute_file(struct ctl_config *cfg, char *buf, size_t size)
{
	char cwd[PATH_MAX];

	if (!cfg->pos_key || strcmp(cfg->pos_key, "file") || cfg->pos_value[0] == '/')
		return 0;
	if (!getcwd(cwd, sizeof(cwd)))
		return -1;
	if ((size_t)snprintf(buf, size, "%s/%s", cwd, cfg->pos_value) >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	cfg->pos_value = buf;
	return 0;
}

int ctl_main(const struct ctl_config *cfg)
{
	struct ctl_config local = *cfg;
	char abs[2 * PATH_MAX];
	char *buf = malloc(CTL_MAX_RESPONSE + 1);
	int fd = -1, n, status = 2;
	ssize_t len;

	if (!buf) {
		fputs("hutch: ctl: out of memory\n", stderr);
		return 2;
	}
	if (ctl_absolute_file(&local, abs, sizeof(abs)) < 0) {
		fprintf(stderr, "hutch: ctl: cannot find the current directory: %s\n",
			strerror(errno));
		goto out;
	}
	n = ctl_build_request(&local, buf, API_MAX_REQUEST + 2);
	if (n < 0) {
		fprintf(stderr, "hutch: ctl: the request is longer than %u bytes\n",
			API_MAX_REQUEST);
		goto out;
	}
	fd = ctl_connect(cfg->sock_path);
	if (fd < 0) {
		fprintf(stderr, "hutch: %s: cannot connect: %s\n", cfg->sock_path, strerror(errno));
		goto out;
	}
	n = ctl_send_all(fd, buf, (size_t)n);
	len = n ? n : ctl_read_line(fd, buf, CTL_MAX_RESPONSE + 1);
	if (len < 0) {
		fprintf(stderr, "hutch: %s: no answer: %s\n", cfg->sock_path,
			len == -ECONNRESET ? "connection closed" : strerror((int)-len));
		goto out;
	}
	status = ctl_show(cfg, buf, (size_t)len);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return status;
}
