/* The control socket (--api-sock): newline-delimited JSON commands over a Unix stream socket. */
#ifndef HUTCH_VMM_API_H
#define HUTCH_VMM_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_MAX_CLIENTS	 8
#define API_MAX_REQUEST	 (64 * 1024) /* bytes of one request line, without its newline */
#define API_MAX_RESPONSE (16 * 1024) /* bytes of one response line */
#define API_MAX_KEYS	 8	     /* keys of one send-key combination */
#define API_MAX_TEXT	 1024	     /* characters of one send-key text */

enum api_vm_state {
	API_VM_RUNNING,
	API_VM_PAUSED,
};

/* The "status" command's answer. */
struct api_status {
	enum api_vm_state state;
	unsigned vcpus;
	uint64_t mem_bytes;
	uint64_t uptime_ms; /* since the vCPUs first started */
};

/*
 * What the server does to the VM. Every member is called on the server's
 * own thread ("hutch-api"), one call at a time, so it must be safe to call
 * while the vCPUs and other I/O threads run; it returns 0 or -errno (the
 * client gets "COMMAND: strerror(errno)"). A member must not call
 * api_stop(): quit and powerdown only ask the VM to stop, and whoever runs
 * the VM calls api_stop() on its way out.
 */
struct api_ops {
	/* "status": fills *out */
	int (*status)(void *opaque, struct api_status *out);
	/* "pause": stops the vCPUs until "resume"; devices keep their state */
	int (*pause)(void *opaque);
	/* "resume": lets paused vCPUs run again */
	int (*resume)(void *opaque);
	/* "quit": stops the VM at once, as Ctrl-a x does (exit status 0) */
	int (*quit)(void *opaque);
	/* "powerdown": asks the guest to shut down (ACPI power button) */
	int (*powerdown)(void *opaque);
	/*
	 * "screendump": writes the guest's screen to the absolute path as a PNG;
	 * 0, or -1 with one line in err
	 */
	int (*screendump)(void *opaque, const char *path, char *err, size_t errlen);
	/* "send-key": presses Linux KEY_* codes[0..n) in order, then releases them in reverse */
	/* -EAGAIN: the guest's input queue stayed full (it is not reading) */
	int (*send_key)(void *opaque, const uint16_t *codes, unsigned n);
	void *opaque;
};

struct api_server;

/*
 * Listens on the Unix socket path (mode 0600) and serves up to
 * API_MAX_CLIENTS clients at once on a new "hutch-api" thread. A socket file
 * left at path by a process that is gone is replaced; a live listener or any
 * other kind of file is an error. ops is copied. NULL on failure, with one
 * line for "hutch: " in err ("PATH: another process is listening there").
 */
struct api_server *api_start(const char *path, const struct api_ops *ops, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Stops the thread, closes every connection and unlinks the socket (if still ours). NULL is ok. */
void api_stop(struct api_server *srv);

#endif
