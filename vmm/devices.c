/* The virtio devices a configuration asks for: opened, created and plugged into the machine. */
#include "vmm/devices.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/block/image.h"
#include "devices/display/display.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/gpu.h"
#include "devices/virtio/input.h"
#include "devices/net/slirp.h"
#include "devices/net/tap.h"
#include "devices/virtio/console.h"
#include "devices/virtio/net.h"
#include "devices/virtio/rng.h"
#include "vmm/console.h"

static struct virtio_blk *disks[CONFIG_MAX_DISKS];
static struct image *images[CONFIG_MAX_DISKS]; /* what disks[i] reads and writes */
static unsigned ndisks;
static struct virtio_net *nics[CONFIG_MAX_NICS];
static unsigned nnics;
/* libslirp keeps global state: every user-mode NIC runs on this one thread */
static struct evloop *slirp_loop;
static struct virtio_rng rng;
static struct virtio_console *vcon; /* with --console virtio */
/* unless --display off: the screen, and the keyboard and tablet sharing one thread */
static struct display display;
static bool have_display;
static struct virtio_gpu gpu;
static struct virtio_input keyboard, tablet;
static struct evloop *input_loop;

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
	static const enum image_format formats[] = {
		[DISK_FORMAT_AUTO] = IMAGE_FORMAT_AUTO,
		[DISK_FORMAT_RAW] = IMAGE_FORMAT_RAW,
		[DISK_FORMAT_QCOW2] = IMAGE_FORMAT_QCOW2,
	};
	struct virtio_blk *blk = calloc(1, sizeof(*blk));
	struct image *img = calloc(1, sizeof(*img));
	/* one queue per vCPU: each submits without contending for a queue lock */
	unsigned nq = m->vm.ncpus < VIRTIO_MAX_QUEUES ? m->vm.ncpus : VIRTIO_MAX_QUEUES;
	struct disk disk;
	char err[256], name[16];
	int ret;

	if (!blk || !img) {
		free(blk);
		free(img);
		return VM_EXIT_ERROR;
	}
	disks[ndisks] = blk;
	images[ndisks++] = img;
	ret = image_open(img, dc->path, formats[dc->format], dc->readonly, err, sizeof(err));
	if (ret) {
		img->raw.fd = -1;
		fprintf(stderr, "hutch: %s: %s\n", dc->path, err);
		return VM_EXIT_USAGE;
	}
	disk = img->raw;
	disk.size = img->size;
	disk.image = img->format == IMAGE_FORMAT_RAW ? NULL : img;
	disk.probed_raw = img->format == IMAGE_FORMAT_RAW && img->probed;
	if (disk.probed_raw && !dc->readonly)
		fprintf(stderr,
			"hutch: %s: no format= given, using it as raw; the guest may not write a "
			"qcow2 header to its first sector (format=raw allows it)\n",
			dc->path);
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

/* The backend a --net option asks for; one line and NULL for a user error. */
static struct net_backend *devices_net_backend(const struct nic_config *nc)
{
	struct net_slirp_config sc = { .restrict_host = nc->restrict_host };
	struct net_backend *be;
	char err[256];

	if (nc->tap) {
		be = net_tap_create(nc->ifname, err, sizeof(err));
		if (!be)
			fprintf(stderr, "hutch: --net tap: %s\n", err);
		return be;
	}
	for (unsigned i = 0; i < nc->nhostfwd; i++) {
		if (net_hostfwd_parse(nc->hostfwd[i], &sc.fwd[sc.nfwd++], err, sizeof(err))) {
			fprintf(stderr, "hutch: --net user: %s\n", err);
			return NULL;
		}
	}
	be = net_slirp_create(&sc, err, sizeof(err));
	if (!be)
		fprintf(stderr, "hutch: --net user: %s\n", err);
	return be;
}

static int devices_add_nic(struct machine *m, const struct nic_config *nc, unsigned index)
{
	/* QEMU's default OUI and first address, one up per NIC */
	uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, (uint8_t)(0x56 + index) };
	struct virtio_net *net = calloc(1, sizeof(*net));
	struct net_backend *be;
	char name[16];
	int ret;

	if (!net)
		return VM_EXIT_ERROR;
	be = devices_net_backend(nc);
	if (!be) {
		free(net);
		return VM_EXIT_USAGE;
	}
	nics[nnics++] = net;
	ret = virtio_net_init(net, be, nc->has_mac ? nc->mac : mac);
	if (!ret && !nc->tap) {
		if (!slirp_loop)
			slirp_loop = evloop_create("hutch-slirp");
		net->vdev.loop = slirp_loop;
		ret = slirp_loop ? 0 : -ENOMEM;
	}
	snprintf(name, sizeof(name), "hutch-net%u", index & 0xff); /* below CONFIG_MAX_NICS */
	if (!ret)
		ret = machine_add_virtio(m, &net->vdev, name);
	if (ret) {
		fprintf(stderr, "hutch: cannot add a NIC: %s\n", strerror(-ret));
		return VM_EXIT_ERROR;
	}
	return 0;
}

/* virtio-gpu on the display, a virtio-input keyboard and tablet feeding it. 0 or -errno. */
static int devices_add_display(struct machine *m, const struct vm_config *cfg)
{
	struct display_input_ops in;
	int ret = display_init(&display);

	if (ret)
		return ret;
	have_display = true;
	ret = virtio_gpu_init(&gpu, &display, cfg->display_width, cfg->display_height);
	if (!ret)
		ret = machine_add_virtio(m, &gpu.vdev, "hutch-gpu");
	if (ret)
		return ret;
	input_loop = evloop_create("hutch-input");
	if (!input_loop)
		return -ENOMEM;
	virtio_input_init(&keyboard, VIRTIO_INPUT_KEYBOARD);
	virtio_input_init(&tablet, VIRTIO_INPUT_TABLET);
	keyboard.vdev.loop = tablet.vdev.loop = input_loop;
	virtio_input_display_ops(&keyboard, &in);
	display_set_keyboard(&display, &in);
	virtio_input_display_ops(&tablet, &in);
	display_set_pointer(&display, &in);
	ret = machine_add_virtio(m, &keyboard.vdev, "hutch-keyboard");
	return ret ? ret : machine_add_virtio(m, &tablet.vdev, "hutch-tablet");
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
	for (unsigned i = 0; i < cfg->nnics; i++) {
		ret = devices_add_nic(m, &cfg->nics[i], i);
		if (ret)
			return ret;
	}
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
	if (cfg->display != DISPLAY_OFF) {
		ret = devices_add_display(m, cfg);
		if (ret) {
			fprintf(stderr, "hutch: cannot add the display devices: %s\n",
				strerror(-ret));
			return VM_EXIT_ERROR;
		}
	}
	return 0;
}

struct display *devices_display(void)
{
	return have_display ? &display : NULL;
}

void devices_destroy(void)
{
	if (have_display) {
		evloop_destroy(input_loop);
		input_loop = NULL;
		virtio_gpu_destroy(&gpu);
		display_destroy(&display);
		have_display = false;
	}
	for (unsigned i = 0; i < ndisks; i++) {
		if (images[i]->raw.fd >= 0)
			image_close(images[i]);
		free(images[i]);
		free(disks[i]);
	}
	ndisks = 0;
	for (unsigned i = 0; i < nnics; i++) {
		nics[i]->be->ops->destroy(nics[i]->be);
		free(nics[i]);
	}
	nnics = 0;
	evloop_destroy(slirp_loop);
	slirp_loop = NULL;
}
