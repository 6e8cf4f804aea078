/* virtio-console (virtio 1.2 §5.3): one port, hvc0 in the guest, with the terminal's size. */
#ifndef HUTCH_DEVICES_VIRTIO_CONSOLE_H
#define HUTCH_DEVICES_VIRTIO_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "devices/virtio/virtio.h"

#define VIRTIO_CONSOLE_CONFIG_SIZE 12
#define VIRTIO_CONSOLE_INPUT_MAX   4096

typedef void virtio_console_output_fn(void *opaque, const uint8_t *buf, size_t len);

struct virtio_console {
	struct virtio_dev vdev;
	uint8_t config[VIRTIO_CONSOLE_CONFIG_SIZE];
	virtio_console_output_fn *output; /* on the I/O thread, with what the guest wrote */
	void *output_opaque;
	/* bytes typed but not yet in a guest buffer */
	pthread_mutex_t input_lock;
	uint8_t input[VIRTIO_CONSOLE_INPUT_MAX];
	size_t input_len;
	int input_fd; /* eventfd: input arrived */
	atomic_bool active;
	atomic_bool size_resent; /* the size was announced again on the first input */
	struct virtq_chain chain;
};

/* Fills in con->vdev; output gets the guest's bytes. 0 or -errno. */
int virtio_console_init(struct virtio_console *con, virtio_console_output_fn *output, void *opaque,
			uint16_t cols, uint16_t rows) __attribute__((warn_unused_result));

/* Any thread: queues input for the guest; returns how many bytes fit (0 when full). */
size_t virtio_console_receive(struct virtio_console *con, const uint8_t *buf, size_t len);

/* Any thread: the terminal's new size, announced by a configuration change. */
void virtio_console_resize(struct virtio_console *con, uint16_t cols, uint16_t rows);

/* Whether the guest's driver is using the device (DRIVER_OK and not reset). */
bool virtio_console_active(struct virtio_console *con);

#endif
