/* Console: raw terminal handling, the Ctrl-a escape, and stdin fed to the guest's UART. */
#include "vmm/console.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define CONSOLE_ESCAPE 0x01 /* Ctrl-a */

static struct termios saved_termios;
static volatile sig_atomic_t termios_changed;

static struct {
	console_input_fn *input;
	void *input_opaque;
	struct vm *vm;
	pthread_t thread;
	bool escape;
} console;

void console_restore(void)
{
	if (termios_changed) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
		termios_changed = 0;
	}
}

static void console_fatal_signal(int sig)
{
	console_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void console_make_raw(void)
{
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE };
	struct termios raw;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_termios) < 0)
		return;
	raw = saved_termios;
	/* Fully raw, output too: the guest's tty already sends \r\n, so hutch's
	 * own messages while raw must do the same. */
	cfmakeraw(&raw);
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) < 0)
		return;
	termios_changed = 1;
	atexit(console_restore);
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		signal(fatal[i], console_fatal_signal);
}

void console_output(void *opaque, uint8_t byte)
{
	console_write(opaque, &byte, 1);
}

void console_write(void *opaque, const uint8_t *buf, size_t len)
{
	(void)opaque;
	while (len) {
		ssize_t n = write(STDOUT_FILENO, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* a closed stdout must not stop the guest: drop the bytes */
		buf += n;
		len -= (size_t)n;
	}
}

bool console_size(uint16_t *cols, uint16_t *rows)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || !ws.ws_col || !ws.ws_row)
		return false;
	*cols = ws.ws_col;
	*rows = ws.ws_row;
	return true;
}

/* Hands bytes to the guest's console device, waiting while it is full. */
static void console_feed(const uint8_t *buf, size_t len)
{
	const struct timespec pause = { 0, 1000000 }; /* 1 ms */

	while (len && !atomic_load(&console.vm->stopping)) {
		size_t n = console.input(console.input_opaque, buf, len);

		buf += n;
		len -= n;
		if (len)
			nanosleep(&pause, NULL);
	}
}

static void console_key(uint8_t c)
{
	static const char keys[] =
		"\r\nC-a x  quit hutch\r\nC-a a  send C-a\r\nC-a h  this help\r\n";
	const uint8_t escape = CONSOLE_ESCAPE;

	if (!console.escape) {
		if (c == CONSOLE_ESCAPE)
			console.escape = true;
		else
			console_feed(&c, 1);
		return;
	}
	console.escape = false;
	switch (c) {
	case 'x':
		fputs("\r\nhutch: quit\r\n", stderr);
		vm_request_stop(console.vm, VM_EXIT_OK);
		break;
	case 'h': fputs(keys, stderr); break;
	case 'a':
	case CONSOLE_ESCAPE: console_feed(&escape, 1); break;
	default:
		console_feed(&escape, 1);
		console_feed(&c, 1);
		break;
	}
}

static void *console_thread(void *arg)
{
	uint8_t buf[256];

	(void)arg;
	pthread_setname_np(pthread_self(), "console");
	while (!atomic_load(&console.vm->stopping)) {
		ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* EOF: the VM runs on without input */
		for (ssize_t i = 0; i < n; i++)
			console_key(buf[i]);
	}
	return NULL;
}

int console_start(console_input_fn *input, void *opaque, struct vm *vm)
{
	int ret;

	console.input = input;
	console.input_opaque = opaque;
	console.vm = vm;
	console_make_raw();
	ret = pthread_create(&console.thread, NULL, console_thread, NULL);
	if (ret)
		return -ret;
	pthread_detach(console.thread);
	return 0;
}
