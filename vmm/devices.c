/* The virtio devices a configuration asks for: opened, created and plugged into the machine. */
#include "vmm/devices.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/blk.h"
#include "devices/virtio/console.h"
#include "devices/virtio/rng.h"
#include "vmm/console.h"

static struct virtio_blk *disks[CONFIG_MAX_DISKS];
static unsigned ndisks;
static struct virtio_rng rng;
static struct virtio_console *vcon; /* with --console virtio */

static size_t devices_serial_in(void *opaque, const uint8_t *buf, size_t len)
{
	return serial_receive(opaque, buf, len);
}

static size_t devices_vcon_in(void *opaque, const uint8_t *buf, size_t len)
{
	return virtio_console_receive(opaque, buf, len);
}

static int devices_add_console(struct machine *m)
{
	uint16_t cols = 80, rows = 24;
	int ret;

	vcon = calloc(1, sizeof(*vcon));
	if (!vcon)
		return -ENOMEM;
	console_size(&cols, &rows);
	ret = virtio_console_init(vcon, console_write, NULL, cols, rows);
	if (!ret)
		ret = machine_add_virtio(m, &vcon->vdev, "hutch-console");
	return ret;
}

int devices_start_console(struct machine *m)
{
	return vcon ? console_start(devices_vcon_in, vcon, &m->vm)
		    : console_start(devices_serial_in, &m->com1, &m->vm);
}

void devices_console_resized(void)
{
	uint16_t cols, rows;

	if (vcon && console_size(&cols, &rows))
		virtio_console_resize(vcon, cols, rows);
}

static int devices_add_disk(struct machine *m, const struct disk_config *dc, unsigned index)
{
	struct virtio_blk *blk = calloc(1, sizeof(*blk));
	/* one queue per vCPU: each submits without contending for a queue lock */
	unsigned nq = m->vm.ncpus < VIRTIO_MAX_QUEUES ? m->vm.ncpus : VIRTIO_MAX_QUEUES;
	struct disk disk;
	char err[128], name[16];
	int ret;

	if (!blk)
		return VM_EXIT_ERROR;
	disks[ndisks++] = blk;
	ret = disk_open(&disk, dc->path, dc->readonly, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "hutch: %s: %s\n", dc->path, err);
		return VM_EXIT_USAGE;
	}
	if (disk.size % 512)
		fprintf(stderr, "hutch: %s: size is not a multiple of 512; the tail is not used\n",
			dc->path);
	ret = virtio_blk_init(blk, &disk, nq, dc->serial, BLK_AIO_AUTO);
	snprintf(name, sizeof(name), "hutch-vd%c", 'a' + (char)index);
	if (!ret)
		ret = machine_add_virtio(m, &blk->vdev, name);
	if (ret) {
		fprintf(stderr, "hutch: %s: cannot add the disk: %s\n", dc->path, strerror(-ret));
		return VM_EXIT_ERROR;
	}
	return 0;
}

int devices_create(struct machine *m, const struct vm_config *cfg)
{
	int ret;

	for (unsigned i = 0; i < cfg->ndisks; i++) {
		ret = devices_add_disk(m, &cfg->disks[i], i);
		if (ret)
			return ret;
	}
	/* COM1 output stays visible with virtio-console too: kernel messages may
	 * then show twice, but what init or getty write to ttyS0 is not lost. */
	m->console_out = console_output;
	if (cfg->console == CONSOLE_VIRTIO) {
		ret = devices_add_console(m);
		if (ret) {
			fprintf(stderr, "hutch: cannot add virtio-console: %s\n", strerror(-ret));
			return VM_EXIT_ERROR;
		}
	}
	virtio_rng_init(&rng);
	ret = machine_add_virtio(m, &rng.vdev, "hutch-rng");
	if (ret) {
		fprintf(stderr, "hutch: cannot add virtio-rng: %s\n", strerror(-ret));
		return VM_EXIT_ERROR;
	}
	return 0;
}

void devices_destroy(void)
{
	for (unsigned i = 0; i < ndisks; i++) {
		disk_close(&disks[i]->disk);
		free(disks[i]);
	}
	ndisks = 0;
}
