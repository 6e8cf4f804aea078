/* hutch: entry point. Parses the command line, builds the VM, runs it until it stops. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "devices/display/sdl.h"
#include "vmm/api.h"
#include "vmm/cli.h"
#include "vmm/console.h"
#include "vmm/ctl.h"
#include "vmm/devices.h"
#include "vmm/img.h"
#include "vmm/stats.h"
#include "vmm/x86/machine.h"

struct file_buf {
	uint8_t *data;
	size_t len;
};

/* Reads a whole input file no larger than max; one error line and -1 otherwise. */
static int read_input_file(const char *path, size_t max, struct file_buf *out)
{
	struct stat st;
	size_t done = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "hutch: %s: %s\n", path, strerror(errno));
		goto err;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "hutch: %s: not a regular file\n", path);
		goto err;
	}
	if ((uint64_t)st.st_size > max) {
		fprintf(stderr, "hutch: %s: too large (%lld bytes) for guest RAM\n", path,
			(long long)st.st_size);
		goto err;
	}
	out->len = (size_t)st.st_size;
	out->data = malloc(out->len ? out->len : 1);
	if (!out->data) {
		fprintf(stderr, "hutch: %s: out of memory\n", path);
		goto err;
	}
	while (done < out->len) {
		ssize_t n = read(fd, out->data + done, out->len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "hutch: %s: %s\n", path,
				n ? strerror(errno) : "file shrank");
			free(out->data);
			goto err;
		}
		done += (size_t)n;
	}
	close(fd);
	return 0;
err:
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Signals that stop the VM arrive through a signalfd in the main loop. */
static int block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGWINCH);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* vCPU threads unblock SIGUSR1, the kick; everyone else ignores it. */
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sigdelset(&set, SIGUSR1);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC);
}

static int run_until_stop(struct vm *vm, int sig_fd)
{
	struct pollfd fds[2] = {
		{ .fd = sig_fd, .events = POLLIN },
		{ .fd = vm->stop_fd, .events = POLLIN },
	};

	while (!atomic_load(&vm->stopping)) {
		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			break;
		if (fds[0].revents & POLLIN) {
			struct signalfd_siginfo si = { 0 };

			if (read(sig_fd, &si, sizeof(si)) == sizeof(si) &&
			    si.ssi_signo == SIGWINCH) {
				devices_console_resized();
			} else if (si.ssi_signo) {
				console_restore();
				fprintf(stderr, "hutch: terminating on signal %u\n", si.ssi_signo);
				vm_request_stop(vm, VM_EXIT_OK);
			}
		}
	}
	vm_stop_vcpus(vm);
	return atomic_load(&vm->exit_code);
}

/* What the control socket's commands act on; set before api_start(). */
struct api_target {
	struct machine *m;
	uint64_t mem_bytes;
	struct timespec started; /* CLOCK_MONOTONIC, just before vm_start() */
};

static int api_status(void *opaque, struct api_status *out)
{
	struct api_target *t = opaque;
	struct timespec now;
	int64_t ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (int64_t)(now.tv_sec - t->started.tv_sec) * 1000 +
	     (now.tv_nsec - t->started.tv_nsec) / 1000000;
	*out = (struct api_status){
		.state = vm_paused(&t->m->vm) ? API_VM_PAUSED : API_VM_RUNNING,
		.vcpus = t->m->vm.ncpus,
		.mem_bytes = t->mem_bytes,
		.uptime_ms = ms > 0 ? (uint64_t)ms : 0,
	};
	return 0;
}

static int api_pause(void *opaque)
{
	return vm_pause(&((struct api_target *)opaque)->m->vm);
}

static int api_resume(void *opaque)
{
	return vm_resume(&((struct api_target *)opaque)->m->vm);
}

static int api_quit(void *opaque)
{
	vm_request_stop(&((struct api_target *)opaque)->m->vm, VM_EXIT_OK);
	return 0;
}

/* While paused, the press waits in the IOAPIC until the vCPUs run again. */
static int api_powerdown(void *opaque)
{
	machine_power_button(((struct api_target *)opaque)->m);
	return 0;
}

static int api_screendump(void *opaque, const char *path, char *err, size_t errlen)
{
	struct display *d = devices_display();

	(void)opaque;
	if (!d) {
		snprintf(err, errlen, "screendump: the VM has no display (--display off)");
		return -1;
	}
	return display_screendump(d, path, err, errlen);
}

/*
 * Presses the keys in order and releases them in reverse. Backpressure: it
 * waits (1 s at most, then -EAGAIN) until the guest's input queue has room
 * for all of it, so that typing faster than the guest reads loses nothing.
 */
static int api_send_key(void *opaque, const uint16_t *codes, unsigned n)
{
	static const struct timespec tick = { .tv_nsec = 1000 * 1000 };
	struct display *d = devices_display();
	unsigned need = 4 * n; /* a press and a release, each with its EV_SYN */

	(void)opaque;
	if (!d)
		return -ENODEV;
	for (unsigned waited = 0; display_key_room(d) < need; waited++) {
		if (waited == 1000)
			return -EAGAIN;
		nanosleep(&tick, NULL);
	}
	for (unsigned i = 0; i < n; i++)
		display_key(d, codes[i], true);
	while (n--)
		display_key(d, codes[n], false);
	return 0;
}

/* Closing the window presses the power button; closing it again stops the VM. */
static void window_closed(void *opaque, unsigned count)
{
	struct machine *m = opaque;

	if (count == 1) {
		fprintf(stderr, "hutch: window closed: asking the guest to shut down "
				"(close it again to stop the VM)\n");
		machine_power_button(m);
	} else {
		vm_request_stop(&m->vm, VM_EXIT_OK);
	}
}

/*
 * --display sdl, or a graphical session with no --display: opens the
 * window; *win stays NULL without one. -1 after one error line when an
 * explicit --display sdl cannot open one.
 */
static int start_window(const struct vm_config *cfg, struct machine *m, struct sdl_window **win)
{
	const struct sdl_ops ops = { .close = window_closed, .opaque = m };
	struct display *d = devices_display();
	char err[320];

	*win = NULL;
	if (!d || cfg->display == DISPLAY_NONE ||
	    (cfg->display == DISPLAY_AUTO && !sdl_session_present()))
		return 0;
	*win = sdl_start(d, cfg->name, &ops, err, sizeof(err));
	if (*win)
		return 0;
	if (cfg->display == DISPLAY_SDL) {
		fprintf(stderr, "hutch: %s\n", err);
		return -1;
	}
	fprintf(stderr, "hutch: no window, running headless: %s\n", err);
	return 0;
}

/* --api-sock: serves the control socket until api_stop(); *srv stays NULL
 * without one. One error line and -1 when the socket cannot be served. */
static int start_api(const struct vm_config *cfg, struct api_target *target,
		     struct api_server **srv)
{
	const struct api_ops ops = {
		.status = api_status,
		.pause = api_pause,
		.resume = api_resume,
		.quit = api_quit,
		.powerdown = api_powerdown,
		.screendump = api_screendump,
		.send_key = api_send_key,
		.opaque = target,
	};
	char err[256];

	*srv = NULL;
	if (!cfg->api_sock_path)
		return 0;
	*srv = api_start(cfg->api_sock_path, &ops, err, sizeof(err));
	if (!*srv) {
		fprintf(stderr, "hutch: %s\n", err);
		return -1;
	}
	return 0;
}

static void print_stats(const struct vm *vm)
{
	struct vm_stats stats = { 0 };
	char line[256];

	for (unsigned i = 0; i < vm->ncpus; i++) {
		int ret = vm_stats_add_vcpu(vm->vcpus[i].fd, &stats);

		if (ret) {
			fprintf(stderr, "hutch: --stats: cannot read KVM statistics: %s\n",
				strerror(-ret));
			return;
		}
	}
	vm_stats_format(&stats, line, sizeof(line));
	fprintf(stderr, "hutch: %s\n", line);
}

static int cmd_run(const struct vm_config *cfg)
{
	static struct machine m;      /* large, and lives as long as the process */
	static char cmdline[1 << 17]; /* more than any boot protocol takes */
	static struct api_target target;
	struct api_server *api;
	struct sdl_window *win;
	struct file_buf kernel = { 0 }, initrd = { 0 };
	struct boot_request req = { 0 };
	int sig_fd, ret;

	if (read_input_file(cfg->kernel_path, cfg->mem_size, &kernel) ||
	    (cfg->initrd_path && read_input_file(cfg->initrd_path, cfg->mem_size, &initrd)))
		return VM_EXIT_USAGE;
	ret = boot_check_kernel(kernel.data, kernel.len);
	if (ret) {
		fprintf(stderr, "hutch: %s: %s\n", cfg->kernel_path, boot_strerror(ret));
		return VM_EXIT_USAGE;
	}
	/* --console virtio: hvc0 becomes /dev/console (the last console= wins) */
	snprintf(cmdline, sizeof(cmdline), "%s%s",
		 cfg->cmdline ? cfg->cmdline : CONFIG_DEFAULT_CMDLINE,
		 cfg->console == CONSOLE_VIRTIO ? " console=hvc0" : "");
	sig_fd = block_signals();
	if (sig_fd < 0 || vm_create(&m.vm, cfg))
		return VM_EXIT_ERROR;
	ret = devices_create(&m, cfg);
	if (ret)
		return ret;
	req = (struct boot_request){ kernel.data, kernel.len, initrd.data, initrd.len, cmdline, 0 };
	ret = machine_x86_setup(&m, &req);
	if (ret > 0) {
		fprintf(stderr, "hutch: %s: %s\n",
			ret == BOOT_E_INITRD_NO_ROOM && cfg->initrd_path ? cfg->initrd_path
			: ret == BOOT_E_CMDLINE_TOO_LONG		 ? "--cmdline"
									 : cfg->kernel_path,
			boot_strerror(ret));
		return VM_EXIT_USAGE;
	}
	if (ret < 0)
		return VM_EXIT_ERROR;
	free(kernel.data);
	free(initrd.data);
	if (devices_start_console(&m))
		return VM_EXIT_ERROR;
	target = (struct api_target){ .m = &m, .mem_bytes = cfg->mem_size };
	clock_gettime(CLOCK_MONOTONIC, &target.started);
	if (start_window(cfg, &m, &win))
		return VM_EXIT_USAGE;
	if (start_api(cfg, &target, &api)) {
		sdl_stop(win);
		return VM_EXIT_USAGE;
	}
	if (vm_start(&m.vm)) {
		api_stop(api);
		sdl_stop(win);
		return VM_EXIT_ERROR;
	}
	ret = run_until_stop(&m.vm, sig_fd);
	/* after the vCPUs: a pause the server is waiting in has returned */
	api_stop(api);
	machine_stop_devices(&m);
	sdl_stop(win); /* after the GPU, which tells the window about new frames */
	devices_destroy();
	console_restore();
	if (cfg->print_stats)
		print_stats(&m.vm);
	vm_destroy(&m.vm);
	return ret < 0 ? VM_EXIT_ERROR : ret;
}

int main(int argc, char **argv)
{
	struct vm_config cfg;
	int exit_code;

	if (argc >= 2 && !strcmp(argv[1], "img"))
		return img_main(argc - 1, argv + 1);
	switch (cli_parse(argc, argv, &cfg, &exit_code)) {
	case CLI_EXIT: return exit_code;
	case CLI_CTL: return ctl_main(&cfg.ctl);
	case CLI_RUN: break;
	}
	return cmd_run(&cfg);
}
