/* The control socket: accepts clients, splits their bytes into lines, runs each as a command. */
#include "vmm/api.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/input-event-codes.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/display/keymap.h"
#include "vmm/evloop.h"
#include "vmm/json.h"

struct api_client {
	struct api_server *srv;
	int fd;	   /* -1: a free slot */
	char *buf; /* API_MAX_REQUEST + 1 bytes: the longest line and its newline */
	size_t len;
};

struct api_server {
	struct evloop *loop;
	struct api_ops ops;
	int listen_fd;
	int spare_fd; /* closed to accept and drop a client when out of descriptors */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev; /* the socket file we created, so that we unlink only that */
	ino_t ino;
	struct api_client clients[API_MAX_CLIENTS];
	char response[API_MAX_RESPONSE]; /* used on the server thread only */
};

/*
 * A command: it checks its arguments (an object, possibly empty, whose
 * names the dispatcher already checked against args), does its work and
 * writes the members of its "return" object into ret ("\"a\":1,\"b\":2"),
 * or writes one message into err and returns -1.
 */
struct api_command {
	const char *name;
	int (*run)(struct api_server *srv, const struct json_value *args, struct json_writer *ret,
		   char *err, size_t errlen);
	const char *const *args; /* the argument names it takes, NULL-terminated; NULL: none */
	const char *help;
};

/* The result of an op, as a command's: "NAME: strerror" for -errno. */
static int api_op_result(const char *name, int ret, char *err, size_t errlen)
{
	if (ret == 0)
		return 0;
	snprintf(err, errlen, "%s: %s", name, strerror(ret < 0 ? -ret : EIO));
	return -1;
}

static int api_call_op(const char *name, int (*op)(void *), void *opaque, char *err, size_t errlen)
{
	return api_op_result(name, op ? op(opaque) : -ENOTSUP, err, errlen);
}

static int api_cmd_status(struct api_server *srv, const struct json_value *args,
			  struct json_writer *ret, char *err, size_t errlen)
{
	static const char *const states[] = {
		[API_VM_RUNNING] = "running", [API_VM_PAUSED] = "paused"
	};
	struct api_status st = { 0 };
	int r = srv->ops.status ? srv->ops.status(srv->ops.opaque, &st) : -ENOTSUP;

	(void)args;
	if (api_op_result("status", r, err, errlen))
		return -1;
	json_write_fmt(ret,
		       "\"state\":\"%s\",\"vcpus\":%u,\"mem_bytes\":%" PRIu64
		       ",\"uptime_ms\":%" PRIu64,
		       st.state == API_VM_PAUSED ? states[API_VM_PAUSED] : states[API_VM_RUNNING],
		       st.vcpus, st.mem_bytes, st.uptime_ms);
	return 0;
}

static int api_cmd_pause(struct api_server *srv, const struct json_value *args,
			 struct json_writer *ret, char *err, size_t errlen)
{
	(void)args;
	(void)ret;
	return api_call_op("pause", srv->ops.pause, srv->ops.opaque, err, errlen);
}

static int api_cmd_resume(struct api_server *srv, const struct json_value *args,
			  struct json_writer *ret, char *err, size_t errlen)
{
	(void)args;
	(void)ret;
	return api_call_op("resume", srv->ops.resume, srv->ops.opaque, err, errlen);
}

static int api_cmd_quit(struct api_server *srv, const struct json_value *args,
			struct json_writer *ret, char *err, size_t errlen)
{
	(void)args;
	(void)ret;
	return api_call_op("quit", srv->ops.quit, srv->ops.opaque, err, errlen);
}

static int api_cmd_powerdown(struct api_server *srv, const struct json_value *args,
			     struct json_writer *ret, char *err, size_t errlen)
{
	(void)args;
	(void)ret;
	return api_call_op("powerdown", srv->ops.powerdown, srv->ops.opaque, err, errlen);
}

static int api_cmd_screendump(struct api_server *srv, const struct json_value *args,
			      struct json_writer *ret, char *err, size_t errlen)
{
	const char *path = json_get_string(args, "file");

	(void)ret;
	if (!path || path[0] != '/') {
		snprintf(err, errlen, "screendump: \"file\" must be an absolute path");
		return -1;
	}
	if (!srv->ops.screendump)
		return api_op_result("screendump", -ENOTSUP, err, errlen);
	return srv->ops.screendump(srv->ops.opaque, path, err, errlen);
}

/* Types text as a US keyboard would, one key (with shift if need be) at a time. */
/* srv's send_key: the keys pressed in order, released in reverse. */
static int api_press(struct api_server *srv, const uint16_t *codes, unsigned n, char *err,
		     size_t errlen)
{
	int r = srv->ops.send_key(srv->ops.opaque, codes, n);

	if (r == -EAGAIN) {
		snprintf(err, errlen, "send-key: the guest is not reading its keyboard");
		return -1;
	}
	return api_op_result("send-key", r, err, errlen);
}

static int api_type_text(struct api_server *srv, const char *text, char *err, size_t errlen)
{
	if (strlen(text) > API_MAX_TEXT) {
		snprintf(err, errlen, "send-key: \"text\" is longer than %d characters",
			 API_MAX_TEXT);
		return -1;
	}
	for (const char *c = text; *c; c++) {
		bool shift;
		int code = keymap_from_char(*c, &shift);
		uint16_t codes[2] = { KEY_LEFTSHIFT, 0 };

		if (code < 0) {
			snprintf(err, errlen, "send-key: no key types '%c' (0x%02x)",
				 *c >= 0x20 && *c < 0x7f ? *c : '?', (unsigned char)*c);
			return -1;
		}
		codes[1] = (uint16_t)code;
		if (api_press(srv, codes + !shift, 1 + shift, err, errlen))
			return -1;
	}
	return 0;
}

static int api_cmd_send_key(struct api_server *srv, const struct json_value *args,
			    struct json_writer *ret, char *err, size_t errlen)
{
	const char *keys = json_get_string(args, "keys"), *text = json_get_string(args, "text");
	uint16_t codes[API_MAX_KEYS];
	char why[256];
	int n;

	(void)ret;
	if (!keys == !text) {
		snprintf(err, errlen, "send-key: give \"keys\" (a combination) or \"text\"");
		return -1;
	}
	if (!srv->ops.send_key)
		return api_op_result("send-key", -ENOTSUP, err, errlen);
	if (text)
		return api_type_text(srv, text, err, errlen);
	n = keymap_parse_combo(keys, codes, API_MAX_KEYS, why, sizeof(why));
	if (n < 0) {
		snprintf(err, errlen, "send-key: %s", why);
		return -1;
	}
	return api_press(srv, codes, (unsigned)n, err, errlen);
}

static int api_cmd_help(struct api_server *srv, const struct json_value *args,
			struct json_writer *ret, char *err, size_t errlen);

static const char *const api_screendump_args[] = { "file", NULL };
static const char *const api_send_key_args[] = { "keys", "text", NULL };

/* Every command, in the order "help" lists them. Add new ones here. */
static const struct api_command api_commands[] = {
	{ "status", api_cmd_status, NULL,
	  "the VM's state (running or paused), vCPUs, memory and uptime" },
	{ "pause", api_cmd_pause, NULL, "stop the vCPUs until resume" },
	{ "resume", api_cmd_resume, NULL, "let paused vCPUs run again" },
	{ "quit", api_cmd_quit, NULL, "stop the VM at once, as Ctrl-a x does" },
	{ "powerdown", api_cmd_powerdown, NULL, "ask the guest to shut down (ACPI power button)" },
	{ "screendump", api_cmd_screendump, api_screendump_args,
	  "write the guest's screen to \"file\" (an absolute path) as a PNG" },
	{ "send-key", api_cmd_send_key, api_send_key_args,
	  "press \"keys\" (a combination such as ctrl-alt-f2) or type \"text\"" },
	{ "help", api_cmd_help, NULL, "list the commands" },
};

static int api_cmd_help(struct api_server *srv, const struct json_value *args,
			struct json_writer *ret, char *err, size_t errlen)
{
	(void)srv;
	(void)args;
	(void)err;
	(void)errlen;
	json_write_raw(ret, "\"commands\":[");
	for (size_t i = 0; i < sizeof(api_commands) / sizeof(api_commands[0]); i++) {
		json_write_raw(ret, i ? ",{\"name\":" : "{\"name\":");
		json_write_cstr(ret, api_commands[i].name);
		json_write_raw(ret, ",\"help\":");
		json_write_cstr(ret, api_commands[i].help);
		json_write_raw(ret, "}");
	}
	json_write_raw(ret, "]");
	return 0;
}

static const struct api_command *api_find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(api_commands) / sizeof(api_commands[0]); i++) {
		if (!strcmp(api_commands[i].name, name))
			return &api_commands[i];
	}
	return NULL;
}

/* Replaces whatever w holds with {"error":{"message":MSG}}. */
static void api_write_error(struct json_writer *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void api_write_error(struct json_writer *w, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_writer_init(w, w->buf, w->size);
	json_write_raw(w, "{\"error\":{\"message\":");
	json_write_cstr(w, msg);
	json_write_raw(w, "}}");
}

/* Checks a request's shape; NULL and an error response in w unless it names a command. */
static const struct api_command *api_check_request(const struct json_value *req,
						   const struct json_value **args,
						   struct json_writer *w)
{
	const struct json_value *k, *name;
	const struct api_command *cmd;

	if (req->type != JSON_OBJECT) {
		api_write_error(w, "a request must be a JSON object");
		return NULL;
	}
	k = json_first(req);
	for (unsigned i = 0; i < req->count; i++, k = json_next(k + 1)) {
		if (strcmp(k->str, "command") && strcmp(k->str, "arguments")) {
			api_write_error(w, "unknown key '%.64s' (command, arguments)", k->str);
			return NULL;
		}
	}
	name = json_get(req, "command");
	*args = json_get(req, "arguments");
	if (!name || name->type != JSON_STRING) {
		api_write_error(w, name ? "\"command\" must be a string" : "missing \"command\"");
		return NULL;
	}
	if (*args && (*args)->type != JSON_OBJECT) {
		api_write_error(w, "\"arguments\" must be an object");
		return NULL;
	}
	cmd = api_find_command(name->str);
	if (!cmd) {
		api_write_error(w, "unknown command '%.64s' (\"help\" lists them)", name->str);
		return NULL;
	}
	k = *args ? json_first(*args) : NULL;
	for (unsigned i = 0; k && i < (*args)->count; i++, k = json_next(k + 1)) {
		const char *const *a = cmd->args;

		while (a && *a && strcmp(*a, k->str))
			a++;
		if (!a || !*a) {
			api_write_error(w, "%s: unknown argument '%.64s'", cmd->name, k->str);
			return NULL;
		}
	}
	return cmd;
}

/* Runs one request line and writes its one response (without newline) into w. */
static void api_run_line(struct api_server *srv, const char *line, size_t len,
			 struct json_writer *w)
{
	static const struct json_value no_args = { .type = JSON_OBJECT, .span = 1 };
	const struct json_value *args = NULL;
	const struct api_command *cmd;
	struct json_doc doc;
	size_t offset;
	char err[512] = "";
	enum json_error jerr = json_parse(line, len, &doc, &offset);

	if (jerr) {
		api_write_error(w, "malformed JSON at byte %zu: %s", offset, json_strerror(jerr));
		return;
	}
	cmd = api_check_request(json_root(&doc), &args, w);
	if (cmd) {
		json_write_raw(w, "{\"return\":{");
		if (cmd->run(srv, args ? args : &no_args, w, err, sizeof(err)))
			api_write_error(w, "%s", err[0] ? err : "command failed");
		else
			json_write_raw(w, "}}");
		if (w->overflow)
			api_write_error(w, "%s: response too long", cmd->name);
	}
	json_free(&doc);
}

static void api_client_close(struct api_client *c)
{
	evloop_del(c->srv->loop, c->fd);
	close(c->fd);
	free(c->buf);
	*c = (struct api_client){ .srv = c->srv, .fd = -1 };
}

/*
 * Sends one whole line without ever waiting: a client that does not read
 * its responses until its socket buffer is full is dropped. False then.
 */
static bool api_client_send(struct api_client *c, const char *text)
{
	size_t len = strlen(text);
	ssize_t n;

	do
		n = send(c->fd, text, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)len) {
		api_client_close(c);
		return false;
	}
	return true;
}

/* Handles one line (without its newline); false when the client was dropped. */
static bool api_client_line(struct api_client *c, char *line, size_t len)
{
	struct api_server *srv = c->srv;
	struct json_writer w;

	if (len && line[len - 1] == '\r') /* CRLF from `nc -C` or telnet */
		len--;
	if (strspn(line, " \t\r") >= len)
		return true; /* blank lines are ignored */
	json_writer_init(&w, srv->response, sizeof(srv->response) - 1);
	api_run_line(srv, line, len, &w);
	srv->response[w.len] = '\n'; /* the writer kept one byte free for it */
	srv->response[w.len + 1] = '\0';
	return api_client_send(c, srv->response);
}

static void api_client_readable(void *opaque)
{
	struct api_client *c = opaque;
	size_t cap = API_MAX_REQUEST + 1, start = 0, scan = c->len;
	ssize_t n = recv(c->fd, c->buf + c->len, cap - c->len, MSG_DONTWAIT);
	char *nl;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) { /* gone, perhaps in the middle of a line: that line is dropped */
		api_client_close(c);
		return;
	}
	c->len += (size_t)n;
	while ((nl = memchr(c->buf + scan, '\n', c->len - scan))) {
		*nl = '\0';
		if (!api_client_line(c, c->buf + start, (size_t)(nl - (c->buf + start))))
			return;
		start = scan = (size_t)(nl - c->buf) + 1;
	}
	memmove(c->buf, c->buf + start, c->len - start);
	c->len -= start;
	if (c->len == cap) {
		struct json_writer w;

		json_writer_init(&w, c->srv->response, sizeof(c->srv->response) - 1);
		api_write_error(&w, "request too long (at most %u bytes)", API_MAX_REQUEST);
		json_write_raw(&w, "\n");
		if (api_client_send(c, c->srv->response))
			api_client_close(c);
	}
}

/* Out of file descriptors: accept with the spare one and hang up, so that accept stops firing. */
static void api_shed_connection(struct api_server *srv)
{
	int fd;

	if (srv->spare_fd < 0)
		return;
	close(srv->spare_fd);
	fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		close(fd);
	srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void api_accept(void *opaque)
{
	struct api_server *srv = opaque;
	struct api_client *c = NULL;
	int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE)
			api_shed_connection(srv);
		return;
	}
	for (unsigned i = 0; i < API_MAX_CLIENTS && !c; i++) {
		if (srv->clients[i].fd < 0)
			c = &srv->clients[i];
	}
	if (!c) {
		static const char busy[] = "{\"error\":{\"message\":\"too many clients\"}}\n";

		(void)!send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		return;
	}
	c->buf = malloc(API_MAX_REQUEST + 1);
	if (!c->buf || evloop_add(srv->loop, fd, api_client_readable, c)) {
		free(c->buf);
		c->buf = NULL;
		close(fd);
		return;
	}
	c->fd = fd;
	c->len = 0;
}

/*
 * path exists and bind() said so: removes it when it is a socket nobody
 * listens on any more (a hutch that was killed). 0, or -1 with err set.
 */
static int api_remove_stale(const struct sockaddr_un *addr, char *err, size_t errlen)
{
	const char *path = addr->sun_path;
	struct stat st;
	int fd, ret, saved;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s: exists and is not a socket", path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "%s: socket: %s", path, strerror(errno));
		return -1;
	}
	ret = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
	saved = errno;
	close(fd);
	if (ret == 0 || saved == EAGAIN) { /* EAGAIN: alive, its backlog full */
		snprintf(err, errlen, "%s: another process is listening there", path);
		return -1;
	}
	if (saved != ECONNREFUSED) {
		snprintf(err, errlen, "%s: %s", path, strerror(saved));
		return -1;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "%s: cannot remove the stale socket: %s", path,
			 strerror(errno));
		return -1;
	}
	return 0;
}

/* Creates the listening socket at srv->path, mode 0600. */
static int api_listen(struct api_server *srv, char *err, size_t errlen)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0) {
		snprintf(err, errlen, "%s: socket: %s", srv->path, strerror(errno));
		return -1;
	}
	memcpy(addr.sun_path, srv->path, sizeof(addr.sun_path));
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		if (errno != EADDRINUSE)
			goto err_errno;
		if (api_remove_stale(&addr, err, errlen))
			goto err_close;
		if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
			goto err_errno;
	}
	/* Before listen(), nobody can connect: chmod here leaves no window. */
	if (chmod(srv->path, 0600) < 0 || lstat(srv->path, &st) < 0 ||
	    listen(fd, API_MAX_CLIENTS) < 0) {
		snprintf(err, errlen, "%s: %s", srv->path, strerror(errno));
		unlink(srv->path);
		goto err_close;
	}
	srv->dev = st.st_dev;
	srv->ino = st.st_ino;
	srv->listen_fd = fd;
	return 0;
err_errno:
	snprintf(err, errlen, "%s: %s", srv->path, strerror(errno));
err_close:
	close(fd);
	return -1;
}

/* Unlinks the socket file unless someone replaced it meanwhile. */
static void api_unlink(const struct api_server *srv)
{
	struct stat st;

	if (lstat(srv->path, &st) == 0 && st.st_dev == srv->dev && st.st_ino == srv->ino)
		unlink(srv->path);
}

struct api_server *api_start(const char *path, const struct api_ops *ops, char *err, size_t errlen)
{
	struct api_server *srv;
	size_t len = strlen(path);

	if (errlen)
		err[0] = '\0';
	if (len == 0 || len >= sizeof(srv->path)) {
		snprintf(err, errlen, "%s: %s", path,
			 len ? "too long for a Unix socket path (at most 107 bytes)"
			     : "empty socket path");
		return NULL;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	srv->ops = *ops;
	memcpy(srv->path, path, len + 1);
	for (unsigned i = 0; i < API_MAX_CLIENTS; i++)
		srv->clients[i] = (struct api_client){ .srv = srv, .fd = -1 };
	srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (api_listen(srv, err, errlen))
		goto err_free;
	srv->loop = evloop_create("hutch-api");
	if (!srv->loop) {
		snprintf(err, errlen, "%s: cannot start the API thread", path);
		goto err_listen;
	}
	if (evloop_add(srv->loop, srv->listen_fd, api_accept, srv)) {
		snprintf(err, errlen, "%s: cannot watch the socket", path);
		goto err_loop;
	}
	return srv;
err_loop:
	evloop_destroy(srv->loop);
err_listen:
	close(srv->listen_fd);
	api_unlink(srv);
err_free:
	if (srv->spare_fd >= 0)
		close(srv->spare_fd);
	free(srv);
	return NULL;
}

void api_stop(struct api_server *srv)
{
	if (!srv)
		return;
	evloop_destroy(srv->loop); /* no handler runs after this */
	for (unsigned i = 0; i < API_MAX_CLIENTS; i++) {
		if (srv->clients[i].fd >= 0) {
			close(srv->clients[i].fd);
			free(srv->clients[i].buf);
		}
	}
	close(srv->listen_fd);
	api_unlink(srv);
	if (srv->spare_fd >= 0)
		close(srv->spare_fd);
	free(srv);
}
