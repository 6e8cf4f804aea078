/* Unit tests for the control socket server (with fake ops) and its `hutch ctl` client. */
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vmm/api.h"
#include "vmm/ctl.h"
#include "vmm/json.h"

#define MiB (1ULL << 20)

struct fake_vm {
	atomic_int status, pause, resume, quit, powerdown, screendump, send_key;
	char dump_path[256];
	uint16_t keys[64]; /* every code send_key got, in order; nkeys of them */
	unsigned nkeys;
	unsigned combo_len[32]; /* the length of each send_key call */
	atomic_int fail;	/* errno the next op returns, 0: none */
	atomic_bool paused;
};

static struct fake_vm fake;

static int fake_result(atomic_int *counter)
{
	atomic_fetch_add(counter, 1);
	return -atomic_load(&fake.fail);
}

static int fake_status(void *opaque, struct api_status *out)
{
	TEST_ASSERT_PTR_EQ(opaque, &fake);
	*out = (struct api_status){ atomic_load(&fake.paused) ? API_VM_PAUSED : API_VM_RUNNING, 2,
				    512 * MiB, 12345 };
	return fake_result(&fake.status);
}

static int fake_pause(void *opaque)
{
	int ret = fake_result(&fake.pause);

	(void)opaque;
	if (!ret)
		atomic_store(&fake.paused, true);
	return ret;
}

static int fake_resume(void *opaque)
{
	(void)opaque;
	return fake_result(&fake.resume);
}

static int fake_quit(void *opaque)
{
	(void)opaque;
	return fake_result(&fake.quit);
}

static int fake_powerdown(void *opaque)
{
	(void)opaque;
	return fake_result(&fake.powerdown);
}

static int fake_screendump(void *opaque, const char *file, char *err, size_t errlen)
{
	(void)opaque;
	snprintf(fake.dump_path, sizeof(fake.dump_path), "%s", file);
	if (atomic_load(&fake.fail)) {
		snprintf(err, errlen, "%s: No space left on device", file);
		atomic_fetch_add(&fake.screendump, 1);
		return -1;
	}
	return fake_result(&fake.screendump);
}

static int fake_send_key(void *opaque, const uint16_t *codes, unsigned n)
{
	(void)opaque;
	if (atomic_load(&fake.send_key) < 32)
		fake.combo_len[atomic_load(&fake.send_key)] = n;
	for (unsigned i = 0; i < n && fake.nkeys < ARRAY_LEN(fake.keys); i++)
		fake.keys[fake.nkeys++] = codes[i];
	return fake_result(&fake.send_key);
}

static const struct api_ops fake_ops = {
	.status = fake_status,
	.pause = fake_pause,
	.resume = fake_resume,
	.quit = fake_quit,
	.powerdown = fake_powerdown,
	.screendump = fake_screendump,
	.send_key = fake_send_key,
	.opaque = &fake,
};

static char dir[64], path[128];
static struct api_server *srv;

static int setup(void **state)
{
	char err[256];

	(void)state;
	memset(&fake, 0, sizeof(fake));
	strcpy(dir, "/tmp/hutch-test-api-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/api.sock", dir);
	srv = api_start(path, &fake_ops, err, sizeof(err));
	if (!srv)
		fprintf(stderr, "api_start: %s\n", err);
	return srv ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	api_stop(srv);
	srv = NULL;
	unlink(path);
	return rmdir(dir);
}

/* A blocking client with a 5 s receive timeout, so that a missing answer fails the test. */
static int client_connect(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	TEST_ASSERT(fd >= 0, "socket: %s", strerror(errno));
	strcpy(addr.sun_path, path);
	TEST_ASSERT(connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0, "connect: %s",
		    strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void client_send(int fd, const char *text, size_t len)
{
	while (len) {
		ssize_t n = send(fd, text, len, MSG_NOSIGNAL);

		TEST_ASSERT(n > 0, "send: %s", strerror(errno));
		text += n;
		len -= (size_t)n;
	}
}

/* One response line, without its newline; -1 on EOF (or timeout, an error). */
static int client_read_line(int fd, char *buf, size_t size)
{
	size_t len = 0;

	while (len < size - 1) {
		ssize_t n = recv(fd, buf + len, 1, 0);

		TEST_ASSERT(n >= 0, "recv: %s", strerror(errno));
		if (n == 0)
			return -1;
		if (buf[len] == '\n') {
			buf[len] = '\0';
			return (int)len;
		}
		len++;
	}
	TEST_ASSERT(0, "response longer than %zu bytes", size);
	return -1;
}

/* Sends request (a newline is added) and checks the one response line is want. */
static void expect_response(int fd, const char *request, const char *want)
{
	char line[API_MAX_RESPONSE + 1];

	client_send(fd, request, strlen(request));
	client_send(fd, "\n", 1);
	TEST_ASSERT(client_read_line(fd, line, sizeof(line)) >= 0, "%s: no response", request);
	TEST_ASSERT(!strcmp(line, want), "%s:\n  got  %s\n  want %s", request, line, want);
}

/* Checks that the response is valid JSON of the form {"error":{"message":M}}, M containing needle. */
static void expect_error_response(int fd, const char *request, size_t len, const char *needle)
{
	char line[API_MAX_RESPONSE + 1];
	struct json_doc doc;
	const char *msg;

	client_send(fd, request, len);
	client_send(fd, "\n", 1);
	TEST_ASSERT(client_read_line(fd, line, sizeof(line)) >= 0, "%s: no response", request);
	TEST_ASSERT(json_parse(line, strlen(line), &doc, NULL) == JSON_OK, "bad JSON: %s", line);
	msg = json_get_string(json_get(json_root(&doc), "error"), "message");
	TEST_ASSERT(msg && strstr(msg, needle), "%s: got %s, want a message with '%s'", request,
		    line, needle);
	TEST_ASSERT_EQ(json_root(&doc)->count, 1);
	json_free(&doc);
}

static const char status_running[] =
	"{\"return\":{\"state\":\"running\",\"vcpus\":2,\"mem_bytes\":536870912,"
	"\"uptime_ms\":12345}}";

static void expect_alive(void)
{
	int fd = client_connect();

	expect_response(fd, "{\"command\":\"status\"}", status_running);
	close(fd);
}

/* --- hostile clients first --- */

static void test_malformed_requests(void **state)
{
	static const struct {
		const char *request;
		size_t len; /* 0: strlen */
		const char *message;
	} bad[] = {
		{ "{", 0, "malformed JSON at byte 1: unexpected end of input" },
		{ "{\"command\":\"status\"} x", 0, "malformed JSON at byte 21: unexpected text" },
		{ "\0\xff{", 3, "malformed JSON at byte 0: unexpected character" },
		{ "{\"command\":\"st\0tus\"}", 20, "malformed JSON at byte 14: unescaped control" },
		{ "{\"command\":\"\\u0000\"}", 0, "malformed JSON at byte 12" },
		{ "{\"command\":\"\xff\"}", 0, "invalid UTF-8" },
		{ "{\"command\":\"quit\",\"command\":\"status\"}", 0, "byte 18: duplicate key" },
		{ "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", 0, "byte 16: nested too deeply" },
		{ "[]", 0, "a request must be a JSON object" },
		{ "\"quit\"", 0, "a request must be a JSON object" },
		{ "{}", 0, "missing \"command\"" },
		{ "{\"arguments\":{}}", 0, "missing \"command\"" },
		{ "{\"command\":1}", 0, "\"command\" must be a string" },
		{ "{\"command\":null}", 0, "\"command\" must be a string" },
		{ "{\"command\":\"frobnicate\"}", 0, "unknown command 'frobnicate' (\"help\"" },
		{ "{\"command\":\"\"}", 0, "unknown command ''" },
		{ "{\"command\":\"QUIT\"}", 0, "unknown command 'QUIT'" },
		{ "{\"command\":\"quit\",\"arguments\":[]}", 0, "\"arguments\" must be an object" },
		{ "{\"command\":\"quit\",\"arguments\":null}", 0,
		  "\"arguments\" must be an object" },
		{ "{\"command\":\"quit\",\"arguments\":{\"now\":true}}", 0,
		  "quit: unknown argument 'now'" },
		{ "{\"command\":\"quit\",\"id\":1}", 0, "unknown key 'id' (command, arguments)" },
		{ "{\"command\":\"q\\nu\\\"it\"}", 0, "unknown command 'q\nu\"it'" },
	};
	int fd;

	(void)state;
	fd = client_connect();
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		expect_error_response(fd, bad[i].request,
				      bad[i].len ? bad[i].len : strlen(bad[i].request),
				      bad[i].message);
	close(fd);
	TEST_ASSERT_EQ(fake.quit + fake.status + fake.pause + fake.resume + fake.powerdown, 0);
	expect_alive();
}

/* A long, hostile command name is cut short in the message, which stays valid JSON. */
static void test_long_command_name(void **state)
{
	static char req[API_MAX_REQUEST];
	int fd, n;

	(void)state;
	n = snprintf(req, sizeof(req), "{\"command\":\"");
	for (int i = 0; i < 4000; i++)
		n += snprintf(req + n, sizeof(req) - (size_t)n, "\\u20ac\\n");
	n += snprintf(req + n, sizeof(req) - (size_t)n, "\"}");
	fd = client_connect();
	expect_error_response(fd, req, (size_t)n, "unknown command '\xe2\x82\xac\n");
	close(fd);
}

static void test_oversized_request(void **state)
{
	static char req[API_MAX_REQUEST + 1];
	char line[512];
	int fd;

	(void)state;
	/* exactly API_MAX_REQUEST bytes and a newline: served */
	memset(req, ' ', API_MAX_REQUEST);
	memcpy(req, "{\"command\":\"status\"}", 20);
	fd = client_connect();
	client_send(fd, req, API_MAX_REQUEST);
	expect_response(fd, "", status_running);
	/* one more byte without a newline: an error, then the connection is closed */
	memset(req, 'x', sizeof(req));
	client_send(fd, req, sizeof(req));
	TEST_ASSERT(client_read_line(fd, line, sizeof(line)) >= 0, "no error response");
	TEST_ASSERT(!strcmp(line, "{\"error\":{\"message\":\"request too long (at most 65536 "
				  "bytes)\"}}"),
		    "got %s", line);
	TEST_ASSERT_EQ(client_read_line(fd, line, sizeof(line)), -1);
	close(fd);
	/* a client that goes on sending after the error does not hurt either */
	fd = client_connect();
	for (int i = 0; i < 4; i++)
		(void)!send(fd, req, sizeof(req), MSG_NOSIGNAL);
	close(fd);
	expect_alive();
}

static void test_disconnect_mid_line(void **state)
{
	int fd;

	(void)state;
	fd = client_connect();
	client_send(fd, "{\"command\":\"qu", 14);
	close(fd);
	/* a request whose response nobody reads */
	fd = client_connect();
	client_send(fd, "{\"command\":\"resume\"}\n", 21);
	close(fd);
	/* connect and go */
	close(client_connect());
	expect_alive();
	TEST_ASSERT_EQ(fake.quit, 0);
}

static void test_too_many_clients(void **state)
{
	int fds[API_MAX_CLIENTS], extra;
	char line[256];
	bool served = false;

	(void)state;
	for (int i = 0; i < API_MAX_CLIENTS; i++) {
		fds[i] = client_connect();
		expect_response(fds[i], "{\"command\":\"status\"}", status_running);
	}
	extra = client_connect();
	TEST_ASSERT(client_read_line(extra, line, sizeof(line)) >= 0, "no response");
	TEST_ASSERT(!strcmp(line, "{\"error\":{\"message\":\"too many clients\"}}"), "got %s",
		    line);
	TEST_ASSERT_EQ(client_read_line(extra, line, sizeof(line)), -1);
	close(extra);
	/* the others are still served, and a slot frees when one leaves */
	for (int i = 0; i < API_MAX_CLIENTS; i++)
		expect_response(fds[i], "{\"command\":\"status\"}", status_running);
	close(fds[0]);
	for (int tries = 0; tries < 200 && !served; tries++) {
		extra = client_connect();
		client_send(extra, "{\"command\":\"status\"}\n", 21);
		TEST_ASSERT(client_read_line(extra, line, sizeof(line)) >= 0, "no response");
		served = !strcmp(line, status_running);
		close(extra);
		if (!served)
			usleep(10000);
	}
	TEST_ASSERT(served, "no slot freed: %s", line);
	for (int i = 1; i < API_MAX_CLIENTS; i++)
		close(fds[i]);
}

/* --- the commands --- */

static void test_status(void **state)
{
	int fd;

	(void)state;
	fd = client_connect();
	expect_response(fd, "{\"command\":\"status\"}", status_running);
	expect_response(fd, " {\"arguments\": {}, \"command\": \"status\"} ", status_running);
	atomic_store(&fake.paused, true);
	expect_response(fd, "{\"command\":\"status\"}",
			"{\"return\":{\"state\":\"paused\",\"vcpus\":2,\"mem_bytes\":536870912,"
			"\"uptime_ms\":12345}}");
	TEST_ASSERT_EQ(fake.status, 3);
	close(fd);
}

static void test_ops_are_called(void **state)
{
	int fd;

	(void)state;
	fd = client_connect();
	expect_response(fd, "{\"command\":\"pause\"}", "{\"return\":{}}");
	TEST_ASSERT_EQ(fake.pause, 1);
	expect_response(fd, "{\"command\":\"resume\"}", "{\"return\":{}}");
	TEST_ASSERT_EQ(fake.resume, 1);
	expect_response(fd, "{\"command\":\"powerdown\",\"arguments\":{}}", "{\"return\":{}}");
	TEST_ASSERT_EQ(fake.powerdown, 1);
	expect_response(fd, "{\"command\":\"quit\"}", "{\"return\":{}}");
	TEST_ASSERT_EQ(fake.quit, 1);
	TEST_ASSERT_EQ(fake.status, 0);
	close(fd);
}

static void test_ops_fail(void **state)
{
	int fd;

	(void)state;
	fd = client_connect();
	atomic_store(&fake.fail, EBUSY);
	expect_response(fd, "{\"command\":\"pause\"}",
			"{\"error\":{\"message\":\"pause: Device or resource busy\"}}");
	expect_response(fd, "{\"command\":\"status\"}",
			"{\"error\":{\"message\":\"status: Device or resource busy\"}}");
	atomic_store(&fake.fail, 0);
	expect_response(fd, "{\"command\":\"status\"}", status_running);
	close(fd);

	/* ops left NULL are commands not supported yet */
	api_stop(srv);
	{
		struct api_ops none = { .opaque = &fake };
		char err[256];

		srv = api_start(path, &none, err, sizeof(err));
		TEST_ASSERT(srv, "api_start: %s", err);
	}
	fd = client_connect();
	expect_response(fd, "{\"command\":\"powerdown\"}",
			"{\"error\":{\"message\":\"powerdown: Operation not supported\"}}");
	expect_response(fd, "{\"command\":\"status\"}",
			"{\"error\":{\"message\":\"status: Operation not supported\"}}");
	close(fd);
}

static void test_screendump(void **state)
{
	int fd;

	(void)state;
	fd = client_connect();
	expect_response(fd, "{\"command\":\"screendump\",\"arguments\":{\"file\":\"/tmp/s.png\"}}",
			"{\"return\":{}}");
	TEST_ASSERT(!strcmp(fake.dump_path, "/tmp/s.png"), "%s", fake.dump_path);
	expect_response(fd, "{\"command\":\"screendump\"}",
			"{\"error\":{\"message\":\"screendump: \\\"file\\\" must be an absolute "
			"path\"}}");
	expect_response(fd, "{\"command\":\"screendump\",\"arguments\":{\"file\":\"s.png\"}}",
			"{\"error\":{\"message\":\"screendump: \\\"file\\\" must be an absolute "
			"path\"}}");
	expect_response(fd, "{\"command\":\"screendump\",\"arguments\":{\"file\":5}}",
			"{\"error\":{\"message\":\"screendump: \\\"file\\\" must be an absolute "
			"path\"}}");
	TEST_ASSERT_EQ(fake.screendump, 1);
	atomic_store(&fake.fail, ENOSPC);
	expect_response(fd, "{\"command\":\"screendump\",\"arguments\":{\"file\":\"/x.png\"}}",
			"{\"error\":{\"message\":\"/x.png: No space left on device\"}}");
	close(fd);
}

static void test_send_key(void **state)
{
	static const uint16_t want[] = { 29, 56, 111, 42, 35, 23, 28 };
	int fd;

	(void)state;
	fd = client_connect();
	/* ctrl-alt-delete is one call of three keys; text types one key (with shift) per call */
	expect_response(fd,
			"{\"command\":\"send-key\",\"arguments\":{\"keys\":\"ctrl-alt-delete\"}}",
			"{\"return\":{}}");
	expect_response(fd, "{\"command\":\"send-key\",\"arguments\":{\"text\":\"Hi\\n\"}}",
			"{\"return\":{}}");
	TEST_ASSERT_EQ(fake.send_key, 4);
	TEST_ASSERT_EQ(fake.combo_len[0], 3);
	TEST_ASSERT_EQ(fake.combo_len[1], 2);
	TEST_ASSERT_EQ(fake.combo_len[2], 1);
	TEST_ASSERT_EQ(fake.nkeys, ARRAY_LEN(want));
	for (unsigned i = 0; i < ARRAY_LEN(want); i++)
		TEST_ASSERT_EQ(fake.keys[i], want[i]);

	expect_response(fd, "{\"command\":\"send-key\",\"arguments\":{\"keys\":\"ctrl-nokey\"}}",
			"{\"error\":{\"message\":\"send-key: unknown key 'nokey'\"}}");
	expect_response(fd, "{\"command\":\"send-key\"}",
			"{\"error\":{\"message\":\"send-key: give \\\"keys\\\" (a combination) or "
			"\\\"text\\\"\"}}");
	expect_response(fd,
			"{\"command\":\"send-key\",\"arguments\":{\"keys\":\"a\",\"text\":\"a\"}}",
			"{\"error\":{\"message\":\"send-key: give \\\"keys\\\" (a combination) or "
			"\\\"text\\\"\"}}");
	expect_response(fd,
			"{\"command\":\"send-key\",\"arguments\":{\"keys\":\"a-b-c-d-e-f-g-h-i\"}}",
			"{\"error\":{\"message\":\"send-key: too many keys (at most 8)\"}}");
	expect_response(fd, "{\"command\":\"send-key\",\"arguments\":{\"text\":\"\\u00e9\"}}",
			"{\"error\":{\"message\":\"send-key: no key types '?' (0xc3)\"}}");
	TEST_ASSERT_EQ(fake.send_key, 4);
	close(fd);
}

static void test_help(void **state)
{
	static const char *const names[] = { "status",	  "pause",	"resume",   "quit",
					     "powerdown", "screendump", "send-key", "help" };
	char line[API_MAX_RESPONSE + 1];
	const struct json_value *cmds;
	struct json_doc doc;
	int fd;

	(void)state;
	fd = client_connect();
	client_send(fd, "{\"command\":\"help\"}\n", 19);
	TEST_ASSERT(client_read_line(fd, line, sizeof(line)) > 0, "no response");
	TEST_ASSERT_EQ(json_parse(line, strlen(line), &doc, NULL), JSON_OK);
	cmds = json_get(json_get(json_root(&doc), "return"), "commands");
	TEST_ASSERT(cmds && cmds->type == JSON_ARRAY, "%s", line);
	TEST_ASSERT_EQ(cmds->count, ARRAY_LEN(names));
	for (unsigned i = 0; i < ARRAY_LEN(names); i++) {
		const struct json_value *c = json_array_at(cmds, i);

		TEST_ASSERT(!strcmp(json_get_string(c, "name"), names[i]), "%u", i);
		TEST_ASSERT(strlen(json_get_string(c, "help")) > 5, "%u", i);
	}
	json_free(&doc);
	close(fd);
}

/* Pipelined requests, requests split across writes, CRLF and blank lines. */
static void test_framing(void **state)
{
	static const char two[] = "{\"command\":\"pause\"}\n\n   \r\n{\"command\":\"status\"}\r\n";
	static const char split[] = "{\"command\":\"resume\"}\n";
	char line[512];
	int fd;

	(void)state;
	fd = client_connect();
	client_send(fd, two, sizeof(two) - 1);
	TEST_ASSERT(client_read_line(fd, line, sizeof(line)) >= 0, "no response");
	TEST_ASSERT(!strcmp(line, "{\"return\":{}}"), "got %s", line);
	TEST_ASSERT(client_read_line(fd, line, sizeof(line)) >= 0, "no response");
	TEST_ASSERT(strstr(line, "\"state\":\"paused\""), "got %s", line);
	for (size_t i = 0; i < sizeof(split) - 1; i++) {
		client_send(fd, split + i, 1);
		usleep(100);
	}
	TEST_ASSERT(client_read_line(fd, line, sizeof(line)) >= 0, "no response");
	TEST_ASSERT(!strcmp(line, "{\"return\":{}}"), "got %s", line);
	TEST_ASSERT_EQ(fake.resume, 1);
	close(fd);
}

/* --- the socket file --- */

static void test_socket_file(void **state)
{
	struct stat st;

	(void)state;
	TEST_ASSERT(lstat(path, &st) == 0, "lstat: %s", strerror(errno));
	TEST_ASSERT(S_ISSOCK(st.st_mode), "not a socket");
	TEST_ASSERT_EQ(st.st_mode & 0777, 0600);
	api_stop(srv);
	srv = NULL;
	TEST_ASSERT(lstat(path, &st) < 0 && errno == ENOENT, "api_stop left %s", path);
	api_stop(NULL);
}

static void test_live_socket_refused(void **state)
{
	char err[256];

	(void)state;
	TEST_ASSERT_NULL(api_start(path, &fake_ops, err, sizeof(err)));
	TEST_ASSERT(strstr(err, "another process is listening there") &&
			    !strncmp(err, path, strlen(path)),
		    "err '%s'", err);
	expect_alive();
}

static void test_stale_socket_replaced(void **state)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char err[256];
	int fd;

	(void)state;
	api_stop(srv);
	/* what a killed hutch leaves behind: a socket file nobody listens on */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(addr.sun_path, path);
	TEST_ASSERT(bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0, "bind: %s",
		    strerror(errno));
	TEST_ASSERT(listen(fd, 1) == 0, "listen");
	close(fd);
	srv = api_start(path, &fake_ops, err, sizeof(err));
	TEST_ASSERT(srv, "api_start: %s", err);
	expect_alive();
}

static void test_other_files_kept(void **state)
{
	char err[256], other[160];
	struct stat st;
	int fd;

	(void)state;
	/* a regular file at the path is never removed */
	snprintf(other, sizeof(other), "%s/file", dir);
	fd = open(other, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	TEST_ASSERT(fd >= 0, "open: %s", strerror(errno));
	close(fd);
	TEST_ASSERT_NULL(api_start(other, &fake_ops, err, sizeof(err)));
	TEST_ASSERT(strstr(err, "exists and is not a socket"), "err '%s'", err);
	TEST_ASSERT(stat(other, &st) == 0 && S_ISREG(st.st_mode), "file removed");
	unlink(other);
	/* a socket file replaced while we ran is not ours to unlink */
	TEST_ASSERT(unlink(path) == 0 && mkdir(path, 0700) == 0, "replace");
	api_stop(srv);
	srv = NULL;
	TEST_ASSERT(stat(path, &st) == 0 && S_ISDIR(st.st_mode), "api_stop removed it");
	rmdir(path);
}

static void test_bad_paths(void **state)
{
	char err[256], longpath[200];

	(void)state;
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	TEST_ASSERT_NULL(api_start(longpath, &fake_ops, err, sizeof(err)));
	TEST_ASSERT(strstr(err, "too long for a Unix socket path"), "err '%s'", err);
	/* 107 bytes fit sun_path with the NUL; bind() says the directory is missing */
	memcpy(longpath, "/nonexistent-hutch-dir/", 23);
	longpath[107] = '\0';
	TEST_ASSERT_NULL(api_start(longpath, &fake_ops, err, sizeof(err)));
	TEST_ASSERT(strstr(err, "No such file or directory") || strstr(err, "ermission"),
		    "err '%s'", err);
	TEST_ASSERT_NULL(api_start("", &fake_ops, err, sizeof(err)));
	TEST_ASSERT(strstr(err, "empty"), "err '%s'", err);
	TEST_ASSERT_NULL(api_start("/nonexistent-hutch-dir/api.sock", &fake_ops, err, sizeof(err)));
	TEST_ASSERT(!strcmp(err, "/nonexistent-hutch-dir/api.sock: No such file or directory"),
		    "err '%s'", err);
}

/* --- hutch ctl --- */

struct captured {
	int status;
	char out[4096], err[4096];
};

static void slurp(FILE *f, char *buf, size_t size)
{
	size_t n;

	rewind(f);
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static void run_ctl(struct captured *c, const char *sock, bool json, const char *command, ...)
{
	char *args[8];
	struct ctl_config cfg = {
		.sock_path = sock, .command = command, .args = args, .json = json
	};
	FILE *out = tmpfile(), *err = tmpfile();
	int saved_out, saved_err;
	va_list ap;

	va_start(ap, command);
	for (char *a; (a = va_arg(ap, char *));)
		args[cfg.nargs++] = a;
	va_end(ap);
	TEST_ASSERT(out && err, "tmpfile");
	fflush(stdout);
	fflush(stderr);
	saved_out = dup(STDOUT_FILENO);
	saved_err = dup(STDERR_FILENO);
	dup2(fileno(out), STDOUT_FILENO);
	dup2(fileno(err), STDERR_FILENO);
	c->status = ctl_main(&cfg);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, STDOUT_FILENO);
	dup2(saved_err, STDERR_FILENO);
	close(saved_out);
	close(saved_err);
	slurp(out, c->out, sizeof(c->out));
	slurp(err, c->err, sizeof(c->err));
}

static void test_ctl_request(void **state)
{
	char *args[] = { "file=/tmp/a \"b\".ppm", "n:=-5", "list:=[1, {\"x\": null}]", "e=" };
	struct ctl_config cfg = {
		.sock_path = "p", .command = "screendump", .args = args, .nargs = 4
	};
	char buf[256];

	(void)state;
	TEST_ASSERT_EQ(ctl_build_request(&cfg, buf, sizeof(buf)), strlen(buf));
	TEST_ASSERT(!strcmp(buf,
			    "{\"command\":\"screendump\",\"arguments\":{\"file\":\"/tmp/a "
			    "\\\"b\\\".ppm\",\"n\":-5,\"list\":[1, {\"x\": null}],\"e\":\"\"}}\n"),
		    "got %s", buf);
	cfg.nargs = 0;
	TEST_ASSERT_EQ(ctl_build_request(&cfg, buf, sizeof(buf)),
		       strlen("{\"command\":\"screendump\"}\n"));
	TEST_ASSERT(!strcmp(buf, "{\"command\":\"screendump\"}\n"), "got %s", buf);
	TEST_ASSERT_EQ(ctl_build_request(&cfg, buf, 20), -ENOSPC);
	cfg.pos_key = "keys";
	cfg.pos_value = "ctrl-alt-f1";
	TEST_ASSERT(ctl_build_request(&cfg, buf, sizeof(buf)) > 0, "positional");
	TEST_ASSERT(!strcmp(buf, "{\"command\":\"screendump\",\"arguments\":{\"keys\":"
				 "\"ctrl-alt-f1\"}}\n"),
		    "got %s", buf);
}

static void test_ctl(void **state)
{
	struct captured c;
	char want[512];

	(void)state;
	run_ctl(&c, path, false, "status", NULL);
	TEST_ASSERT(c.status == 0 && !strcmp(c.out, "running, 2 vCPUs, 512 MiB, up 12.3 s\n") &&
			    !c.err[0],
		    "status %d out '%s' err '%s'", c.status, c.out, c.err);
	run_ctl(&c, path, true, "status", NULL);
	snprintf(want, sizeof(want), "%s\n", status_running);
	TEST_ASSERT(c.status == 0 && !strcmp(c.out, want) && !c.err[0], "--json: %d '%s' '%s'",
		    c.status, c.out, c.err);
	run_ctl(&c, path, false, "pause", NULL);
	TEST_ASSERT(c.status == 0 && !c.out[0] && !c.err[0], "pause: %d '%s' '%s'", c.status, c.out,
		    c.err);
	TEST_ASSERT_EQ(fake.pause, 1);
	run_ctl(&c, path, false, "help", NULL);
	TEST_ASSERT(c.status == 0 && strstr(c.out, "  powerdown    ask the guest"), "help: '%s'",
		    c.out);
	run_ctl(&c, path, false, "frobnicate", NULL);
	TEST_ASSERT(c.status == 1 && !c.out[0] &&
			    !strcmp(c.err, "hutch: ctl: unknown command 'frobnicate' (\"help\" "
					   "lists them)\n"),
		    "frobnicate: %d '%s' '%s'", c.status, c.out, c.err);
	run_ctl(&c, path, true, "quit", "now:=true", NULL);
	TEST_ASSERT(c.status == 1 && strstr(c.out, "quit: unknown argument 'now'") && !c.err[0],
		    "quit now: %d '%s' '%s'", c.status, c.out, c.err);
	TEST_ASSERT_EQ(fake.quit, 0);
	atomic_store(&fake.fail, EPERM);
	run_ctl(&c, path, false, "quit", NULL);
	TEST_ASSERT(c.status == 1 && !strcmp(c.err, "hutch: ctl: quit: Operation not permitted\n"),
		    "quit fails: %d '%s'", c.status, c.err);
	atomic_store(&fake.fail, 0);
}

static void test_ctl_cannot_connect(void **state)
{
	struct captured c;
	char want[512];

	(void)state;
	api_stop(srv);
	srv = NULL;
	run_ctl(&c, path, false, "status", NULL);
	snprintf(want, sizeof(want), "hutch: %s: cannot connect: No such file or directory\n",
		 path);
	TEST_ASSERT(c.status == 2 && !c.out[0] && !strcmp(c.err, want), "%d '%s'", c.status, c.err);
	/* a stale socket: nobody listens */
	{
		struct sockaddr_un addr = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		strcpy(addr.sun_path, path);
		TEST_ASSERT(bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0, "bind");
		close(fd);
	}
	run_ctl(&c, path, false, "status", NULL);
	snprintf(want, sizeof(want), "hutch: %s: cannot connect: Connection refused\n", path);
	TEST_ASSERT(c.status == 2 && !strcmp(c.err, want), "%d '%s'", c.status, c.err);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_malformed_requests),
		T(test_long_command_name),
		T(test_oversized_request),
		T(test_disconnect_mid_line),
		T(test_too_many_clients),
		T(test_status),
		T(test_ops_are_called),
		T(test_ops_fail),
		T(test_screendump),
		T(test_send_key),
		T(test_help),
		T(test_framing),
		T(test_socket_file),
		T(test_live_socket_refused),
		T(test_stale_socket_replaced),
		T(test_other_files_kept),
		T(test_bad_paths),
		cmocka_unit_test(test_ctl_request),
		T(test_ctl),
		T(test_ctl_cannot_connect),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
