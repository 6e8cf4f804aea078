/*
 * The harness of the virtio PCI transport tests: a fake virtio device with
 * two queues over simulated guest RAM, plugged into a PCI bus with a fake
 * platform, and helpers with which the test plays the guest's driver through
 * BAR 4 (virtio 1.2 §3.1.1, §4.1.4).
 */
#ifndef HUTCH_TESTS_UNIT_VIRTIO_DRIVER_H
#define HUTCH_TESTS_UNIT_VIRTIO_DRIVER_H

#include "test_util.h"

#include <endian.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "devices/virtio/pci.h"
#include "devices/virtio/virtio.h"
#include "fake_platform.h"
#include "vmm/bus.h"
#include "vmm/memory.h"

/* Guest RAM: two exactly sized regions with a gap, as in test_queue.c. */
#define A_GPA 0x10000ULL
#define B_GPA 0x30000ULL
#define RSZ   0x10000ULL

/* BAR 4 layout (devices/virtio/pci.c) and common config offsets (virtio 1.2 §4.1.4.3). */
#define COMMON	   0x0000
#define ISR	   0x1000
#define DEVCFG	   0x2000
#define NOTIFY	   0x3000
#define NOTIFY_MUL 4
#define DFSELECT   0x00
#define DF	   0x04
#define GFSELECT   0x08
#define GF	   0x0c
#define MSIX_CFG   0x10
#define NUMQ	   0x12
#define STATUS	   0x14
#define CFGGEN	   0x15
#define Q_SELECT   0x16
#define Q_SIZE	   0x18
#define Q_MSIX	   0x1a
#define Q_ENABLE   0x1c
#define Q_NOFF	   0x1e
#define Q_DESC	   0x20
#define Q_AVAIL	   0x28
#define Q_USED	   0x30

#define S_ACK	      VIRTIO_STATUS_ACKNOWLEDGE
#define S_DRIVER      VIRTIO_STATUS_DRIVER
#define S_FEATURES_OK VIRTIO_STATUS_FEATURES_OK
#define S_DRIVER_OK   VIRTIO_STATUS_DRIVER_OK
#define S_NEEDS_RESET VIRTIO_STATUS_NEEDS_RESET

#define SLOT	    1
#define DEVFN	    (SLOT << 3)
#define W32_BASE    0xc0000000ULL
#define W64_BASE    0x1000000000ULL
#define CONFIG_SIZE 10
#define F_DEV_LOW   (1ULL << 5)
#define F_DEV_HIGH  (1ULL << 35)
#define F_VERSION_1 (1ULL << VIRTIO_F_VERSION_1)
#define WAIT_MS	    5000

static const uint16_t qsize_max[2] = { 16, 8 };

struct fake_dev {
	struct virtio_dev vdev;
	uint8_t config[CONFIG_SIZE];
	int activate_ret;
	bool pop; /* queue_notify pops and completes every chain */
	atomic_uint activates, resets, notifies[2], off_thread;
	unsigned popped, config_writes, cfg_off, cfg_len;
	struct virtq_chain chain;
};

struct fixture {
	struct fake_platform plat;
	struct gmem mem;
	uint8_t *a, *b;
	struct bus mmio;
	struct pci_bus bus;
	struct fake_dev d;
	struct virtio_pci vp;
	bool destroyed;
};

/* ------------------------------------------------- the fake device ---- */

static inline void note_thread(struct virtio_dev *vdev)
{
	struct fake_dev *d = vdev->opaque;

	if (!evloop_on_thread(vdev->loop))
		atomic_fetch_add(&d->off_thread, 1);
}

static inline int fake_activate(struct virtio_dev *vdev)
{
	struct fake_dev *d = vdev->opaque;

	note_thread(vdev);
	atomic_fetch_add(&d->activates, 1);
	return d->activate_ret;
}

static inline void fake_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct fake_dev *d = vdev->opaque;

	note_thread(vdev);
	if (d->pop) {
		while (virtio_pop(vdev, q, &d->chain) == 1) {
			d->popped++;
			virtio_push(vdev, q, d->chain.head, d->chain.in_len);
		}
		virtio_notify(vdev, q);
	}
	/* Last, so that a test that saw the count sees the work too. */
	atomic_fetch_add(&d->notifies[q], 1);
}

static inline void fake_reset(struct virtio_dev *vdev)
{
	struct fake_dev *d = vdev->opaque;

	note_thread(vdev);
	atomic_fetch_add(&d->resets, 1);
}

static inline void fake_config_write(struct virtio_dev *vdev, unsigned offset, const void *data,
				     unsigned len)
{
	struct fake_dev *d = vdev->opaque;

	pthread_mutex_lock(&vdev->lock);
	memcpy(vdev->config + offset, data, len);
	pthread_mutex_unlock(&vdev->lock);
	d->config_writes++;
	d->cfg_off = offset;
	d->cfg_len = len;
}

static const struct virtio_dev_ops fake_ops = {
	.name = "virtio-fake",
	.device_id = VIRTIO_ID_RNG,
	.pci_class = 0xff0000,
	.config_write = fake_config_write,
	.activate = fake_activate,
	.queue_notify = fake_queue_notify,
	.reset = fake_reset,
};

static inline void fake_dev_init(struct fake_dev *d, unsigned num_queues, unsigned config_size)
{
	memset(d, 0, sizeof(*d));
	d->vdev.ops = &fake_ops;
	d->vdev.opaque = d;
	d->vdev.features = F_DEV_LOW | F_DEV_HIGH | 1ULL << VIRTIO_F_EVENT_IDX;
	d->vdev.num_queues = num_queues;
	for (unsigned q = 0; q < num_queues && q < VIRTIO_MAX_QUEUES; q++)
		d->vdev.queues[q].size_max = qsize_max[q % 2];
	for (unsigned i = 0; i < CONFIG_SIZE; i++)
		d->config[i] = (uint8_t)(0x10 + i);
	d->vdev.config = d->config;
	d->vdev.config_size = config_size;
}

/*
 * Guest RAM, platform, bus and the transport for vdev (f->d, or a real
 * device that other tests bring); f zeroed. 0 or -1.
 */
static inline int fixture_init(struct fixture *f, struct virtio_dev *vdev)
{
	if (!(f->a = calloc(1, RSZ)) || !(f->b = calloc(1, RSZ)))
		return -1;
	if (gmem_add_region(&f->mem, A_GPA, RSZ, f->a) ||
	    gmem_add_region(&f->mem, B_GPA, RSZ, f->b))
		return -1;
	fake_platform_init(&f->plat);
	bus_init(&f->mmio, "mmio");
	pci_bus_init(&f->bus);
	pci_bus_set_windows(&f->bus, &f->mmio, W32_BASE, 0x1000000, W64_BASE, 0x40000000);
	if (virtio_pci_init(&f->vp, vdev, &f->plat.ops, &f->mem, "test-vp"))
		return -1;
	if (pci_bus_add(&f->bus, SLOT, &f->vp.pci))
		return -1;
	return 0;
}

/* Undoes fixture_init() (f itself stays). */
static inline void fixture_fini(struct fixture *f)
{
	if (!f->destroyed)
		virtio_pci_destroy(&f->vp);
	bus_destroy(&f->mmio);
	free(f->a);
	free(f->b);
}

static inline int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	fake_dev_init(&f->d, 2, CONFIG_SIZE);
	if (fixture_init(f, &f->d.vdev))
		return -1;
	*state = f;
	return 0;
}

static inline int teardown(void **state)
{
	struct fixture *f = *state;

	fixture_fini(f);
	free(f);
	return 0;
}

/* ------------------------------------------------- the test driver ---- */

static inline uint64_t bar4_read(struct fixture *f, uint64_t off, unsigned len)
{
	uint64_t v = 0;

	f->vp.pci.bars[4].ops->read(f->vp.pci.bars[4].opaque, off, &v, len);
	return le64toh(v);
}

static inline void bar4_write(struct fixture *f, uint64_t off, unsigned len, uint64_t value)
{
	uint64_t v = htole64(value);

	f->vp.pci.bars[4].ops->write(f->vp.pci.bars[4].opaque, off, &v, len);
}

static inline uint32_t cc_read(struct fixture *f, unsigned off, unsigned len)
{
	return (uint32_t)bar4_read(f, COMMON + off, len);
}

static inline void cc_write(struct fixture *f, unsigned off, unsigned len, uint32_t value)
{
	bar4_write(f, COMMON + off, len, value);
}

static inline uint8_t status(struct fixture *f)
{
	return (uint8_t)cc_read(f, STATUS, 1);
}

static inline void add_status(struct fixture *f, uint8_t bits)
{
	cc_write(f, STATUS, 1, status(f) | bits);
}

static inline void write_features(struct fixture *f, uint64_t features)
{
	cc_write(f, GFSELECT, 4, 0);
	cc_write(f, GF, 4, (uint32_t)features);
	cc_write(f, GFSELECT, 4, 1);
	cc_write(f, GF, 4, (uint32_t)(features >> 32));
}

/* virtio 1.2 §3.1.1 steps 1-6; returns whether the device took FEATURES_OK. */
static inline bool negotiate(struct fixture *f, uint64_t features)
{
	cc_write(f, STATUS, 1, 0);
	add_status(f, S_ACK);
	add_status(f, S_DRIVER);
	write_features(f, features);
	add_status(f, S_FEATURES_OK);
	return status(f) & S_FEATURES_OK;
}

static inline uint64_t ring_gpa(unsigned q, unsigned area)
{
	return A_GPA + 0x4000ULL * q + 0x1000ULL * area; /* desc, avail, used */
}

static inline void cc_write64(struct fixture *f, unsigned off, uint64_t v)
{
	cc_write(f, off, 4, (uint32_t)v);
	cc_write(f, off + 4, 4, (uint32_t)(v >> 32));
}

static inline void setup_queue_at(struct fixture *f, unsigned q, uint64_t desc, uint64_t avail,
				  uint64_t used)
{
	cc_write(f, Q_SELECT, 2, q);
	cc_write64(f, Q_DESC, desc);
	cc_write64(f, Q_AVAIL, avail);
	cc_write64(f, Q_USED, used);
	cc_write(f, Q_MSIX, 2, q + 1);
	cc_write(f, Q_ENABLE, 2, 1);
}

/* Negotiates VERSION_1, enables both queues, sets DRIVER_OK. */
static inline void driver_start(struct fixture *f)
{
	TEST_ASSERT(negotiate(f, F_VERSION_1 | F_DEV_LOW), "FEATURES_OK refused");
	cc_write(f, MSIX_CFG, 2, 0);
	for (unsigned q = 0; q < 2; q++)
		setup_queue_at(f, q, ring_gpa(q, 0), ring_gpa(q, 1), ring_gpa(q, 2));
	add_status(f, S_DRIVER_OK);
}

static inline void notify(struct fixture *f, unsigned q)
{
	bar4_write(f, NOTIFY + NOTIFY_MUL * q, 2, q);
}

static inline void sleep_ms(unsigned ms)
{
	struct timespec ts = { 0, (long)ms * 1000000 };

	nanosleep(&ts, NULL);
}

static inline bool wait_for(atomic_uint *v, unsigned want)
{
	for (unsigned ms = 0; ms < WAIT_MS && atomic_load(v) < want; ms++)
		sleep_ms(1);
	return atomic_load(v) >= want;
}

static inline void loop_noop(void *opaque)
{
	(void)opaque;
}

/* Lets the I/O thread handle whatever was signalled before. */
static inline void settle(struct fixture *f)
{
	sleep_ms(10);
	evloop_call(f->vp.vdev->loop, loop_noop, NULL);
	evloop_call(f->vp.vdev->loop, loop_noop, NULL);
}

static inline void put16(struct fixture *f, uint64_t gpa, uint16_t v)
{
	uint16_t le = htole16(v);

	TEST_ASSERT_EQ(gmem_write(&f->mem, gpa, &le, 2), 0);
}

static inline uint16_t get16(struct fixture *f, uint64_t gpa)
{
	uint16_t le = 0;

	TEST_ASSERT_EQ(gmem_read(&f->mem, &le, gpa, 2), 0);
	return le16toh(le);
}

/* MSI-X on, vectors 0 (config), 1 and 2 (queues) unmasked. */
static inline void enable_msix(struct fixture *f)
{
	const struct bus_dev_ops *ops = f->vp.pci.bars[1].ops;

	for (uint32_t v = 0; v < 3; v++) {
		uint32_t entry[4] = { htole32(0xfee00000), 0, htole32(0x30 + v), 0 };

		for (unsigned w = 0; w < 4; w++)
			ops->write(f->vp.pci.bars[1].opaque, 16 * v + 4 * w, &entry[w], 4);
	}
	pci_config_write(&f->bus, DEVFN, f->vp.msix.cap + 2, 2, 0x8000);
}

static inline uint64_t vector_fired(struct fixture *f, unsigned v)
{
	return eventfd_take(f->vp.msix.vec[v].fd);
}

#endif
