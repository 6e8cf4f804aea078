/* virtio-console: port 0 only (no MULTIPORT), receiveq 0 and transmitq 1. */
#include "devices/virtio/console.h"

#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* virtio 1.2 §5.3.3: VIRTIO_CONSOLE_F_SIZE; §5.3.4: cols at 0, rows at 2. */
#define VIRTIO_CONSOLE_F_SIZE 0
#define CONSOLE_RX	      0
#define CONSOLE_TX	      1

/* Moves pending input into the guest's receive buffers, as far as both go. */
static void console_deliver(struct virtio_console *con)
{
	struct virtio_dev *vdev = &con->vdev;
	bool pushed = false;

	pthread_mutex_lock(&con->input_lock);
	while (con->input_len && virtio_pop(vdev, CONSOLE_RX, &con->chain) == 1) {
		struct iovec *in = virtq_chain_in(&con->chain);
		size_t done = 0;

		for (unsigned i = 0; i < con->chain.in_num && done < con->input_len; i++) {
			size_t n = in[i].iov_len;

			if (n > con->input_len - done)
				n = con->input_len - done;
			memcpy(in[i].iov_base, con->input + done, n);
			done += n;
		}
		memmove(con->input, con->input + done, con->input_len - done);
		con->input_len -= done;
		virtio_push(vdev, CONSOLE_RX, con->chain.head, (uint32_t)done);
		pushed = true;
	}
	pthread_mutex_unlock(&con->input_lock);
	if (pushed)
		virtio_notify(vdev, CONSOLE_RX);
}

static void console_transmit(struct virtio_console *con)
{
	struct virtio_dev *vdev = &con->vdev;

	while (virtio_pop(vdev, CONSOLE_TX, &con->chain) == 1) {
		for (unsigned i = 0; i < con->chain.out_num; i++)
			con->output(con->output_opaque, con->chain.iov[i].iov_base,
				    con->chain.iov[i].iov_len);
		virtio_push(vdev, CONSOLE_TX, con->chain.head, 0);
	}
	virtio_notify(vdev, CONSOLE_TX);
}

static void console_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_console *con = vdev->opaque;

	if (q == CONSOLE_TX)
		console_transmit(con);
	else
		console_deliver(con);
}

static void console_input_ready(void *opaque)
{
	struct virtio_console *con = opaque;
	uint64_t n;

	if (read(con->input_fd, &n, sizeof(n)) == sizeof(n))
		console_deliver(con);
}

static int console_activate(struct virtio_dev *vdev)
{
	struct virtio_console *con = vdev->opaque;
	int ret = evloop_add(vdev->loop, con->input_fd, console_input_ready, con);

	if (ret)
		return ret;
	atomic_store(&con->size_resent, false);
	atomic_store(&con->active, true);
	/*
	 * Linux reads the size only on a configuration change, and hvc applies
	 * it only to an open tty: announce it now, and again with the first
	 * input, when someone surely has hvc0 open.
	 */
	virtio_config_changed(vdev);
	return 0;
}

static void console_reset(struct virtio_dev *vdev)
{
	struct virtio_console *con = vdev->opaque;

	atomic_store(&con->active, false);
	evloop_del(vdev->loop, con->input_fd);
}

static const struct virtio_dev_ops console_ops = {
	.name = "virtio-console",
	.device_id = VIRTIO_ID_CONSOLE,
	.pci_class = 0x078000, /* simple communication controller, other */
	.activate = console_activate,
	.queue_notify = console_queue_notify,
	.reset = console_reset,
};

static void console_set_size(struct virtio_console *con, uint16_t cols, uint16_t rows)
{
	uint16_t le_cols = htole16(cols), le_rows = htole16(rows);

	memcpy(con->config + 0, &le_cols, 2);
	memcpy(con->config + 2, &le_rows, 2);
}

int virtio_console_init(struct virtio_console *con, virtio_console_output_fn *output, void *opaque,
			uint16_t cols, uint16_t rows)
{
	memset(con, 0, offsetof(struct virtio_console, chain));
	con->output = output;
	con->output_opaque = opaque;
	con->input_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (con->input_fd < 0)
		return -errno;
	pthread_mutex_init(&con->input_lock, NULL);
	con->vdev.ops = &console_ops;
	con->vdev.opaque = con;
	con->vdev.features = 1ULL << VIRTIO_F_INDIRECT_DESC | 1ULL << VIRTIO_F_EVENT_IDX |
			     1ULL << VIRTIO_CONSOLE_F_SIZE;
	con->vdev.num_queues = 2;
	con->vdev.queues[CONSOLE_RX].size_max = 64;
	con->vdev.queues[CONSOLE_TX].size_max = 64;
	con->vdev.config = con->config;
	con->vdev.config_size = VIRTIO_CONSOLE_CONFIG_SIZE;
	console_set_size(con, cols, rows);
	return 0;
}

size_t virtio_console_receive(struct virtio_console *con, const uint8_t *buf, size_t len)
{
	uint64_t one = 1;
	size_t n;

	pthread_mutex_lock(&con->input_lock);
	n = VIRTIO_CONSOLE_INPUT_MAX - con->input_len;
	if (n > len)
		n = len;
	memcpy(con->input + con->input_len, buf, n);
	con->input_len += n;
	pthread_mutex_unlock(&con->input_lock);
	if (n && atomic_load(&con->active) && !atomic_exchange(&con->size_resent, true))
		virtio_config_changed(&con->vdev);
	if (n && write(con->input_fd, &one, sizeof(one)) < 0) {
		/* the counter cannot overflow; the loop sees the input on its next wake */
	}
	return n;
}

void virtio_console_resize(struct virtio_console *con, uint16_t cols, uint16_t rows)
{
	pthread_mutex_lock(&con->vdev.lock);
	console_set_size(con, cols, rows);
	pthread_mutex_unlock(&con->vdev.lock);
	if (atomic_load(&con->active))
		virtio_config_changed(&con->vdev);
}

bool virtio_console_active(struct virtio_console *con)
{
	return atomic_load(&con->active);
}
