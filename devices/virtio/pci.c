/* virtio over PCI (virtio 1.2 §4.1): capabilities, common configuration, notifications, MSI-X. */
#include "devices/virtio/pci.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/le.h"
#include "vmm/log.h"

/* BAR 1: the MSI-X table and PBA. BAR 4 (64-bit, prefetchable): the virtio structures. */
#define VP_BAR_MSIX    1
#define VP_BAR_MSIX_SZ 0x1000
#define VP_PBA_OFFSET  0x800
#define VP_BAR	       4
#define VP_BAR_SZ      0x4000
#define VP_COMMON      0x0000
#define VP_COMMON_LEN  0x38 /* struct virtio_pci_common_cfg up to queue_device */
#define VP_ISR	       0x1000
#define VP_DEVICE      0x2000
#define VP_NOTIFY      0x3000
#define VP_NOTIFY_MULT 4 /* bytes between two queues' notification addresses */
#define VP_REGION      0x1000

/* virtio 1.2 §4.1.4: cfg_type of struct virtio_pci_cap. */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG	  3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG	  5
#define PCI_CAP_ID_VNDR		  0x09

/* virtio 1.2 §4.1.4.3: struct virtio_pci_common_cfg offsets. */
enum {
	CC_DFSELECT = 0x00,
	CC_DF = 0x04,
	CC_GFSELECT = 0x08,
	CC_GF = 0x0c,
	CC_MSIX = 0x10,
	CC_NUMQ = 0x12,
	CC_STATUS = 0x14,
	CC_CFGGEN = 0x15,
	CC_Q_SELECT = 0x16,
	CC_Q_SIZE = 0x18,
	CC_Q_MSIX = 0x1a,
	CC_Q_ENABLE = 0x1c,
	CC_Q_NOFF = 0x1e,
	CC_Q_DESCLO = 0x20,
	CC_Q_DESCHI = 0x24,
	CC_Q_AVAILLO = 0x28,
	CC_Q_AVAILHI = 0x2c,
	CC_Q_USEDLO = 0x30,
	CC_Q_USEDHI = 0x34,
};

static int vp_add_cap(struct virtio_pci *vp, uint8_t type, uint32_t offset, uint32_t length,
		      uint32_t extra, bool has_extra)
{
	uint8_t cap[20] = { PCI_CAP_ID_VNDR, 0, has_extra ? 20 : 16, type, VP_BAR };

	for (unsigned i = 0; i < 4; i++) {
		cap[8 + i] = (uint8_t)(offset >> (8 * i));
		cap[12 + i] = (uint8_t)(length >> (8 * i));
		cap[16 + i] = (uint8_t)(extra >> (8 * i));
	}
	return pci_device_add_cap(&vp->pci, cap, cap[2]);
}

static void vp_transport_notify(struct virtio_dev *vdev, int q)
{
	struct virtio_pci *vp = vdev->transport_opaque;

	if (q < 0) {
		/* virtio 1.2 §4.1.4.5: bit 1, configuration change */
		__atomic_or_fetch(&vp->isr, 2, __ATOMIC_SEQ_CST);
		msix_notify(&vp->msix, vp->config_msix_vector);
	} else {
		__atomic_or_fetch(&vp->isr, 1, __ATOMIC_SEQ_CST);
		msix_notify(&vp->msix, vdev->queues[q].msix_vector);
	}
}

static const struct virtio_transport_ops vp_transport_ops = { .notify = vp_transport_notify };

/* --- activation and reset run on the I/O thread (evloop_call) --- */

static void vp_kick(void *opaque)
{
	struct virtio_queue *queue = opaque;
	uint64_t n;

	if (read(queue->kick_fd, &n, sizeof(n)) < 0)
		return; /* spurious */
	if (queue->vdev->active)
		queue->vdev->ops->queue_notify(queue->vdev, queue->index);
}

static int vp_setup_queues(struct virtio_dev *vdev)
{
	bool indirect = virtio_has_feature(vdev, VIRTIO_F_INDIRECT_DESC);
	bool event_idx = virtio_has_feature(vdev, VIRTIO_F_EVENT_IDX);

	for (unsigned q = 0; q < vdev->num_queues; q++) {
		struct virtio_queue *queue = &vdev->queues[q];

		if (!queue->enabled) {
			queue->vq = (struct virtq){ .broken = true };
			continue;
		}
		if (virtq_init(&queue->vq, vdev->mem, queue->size, queue->desc, queue->driver,
			       queue->device, indirect, event_idx)) {
			LOG_RATELIMITED("%s: queue %u: size %u or ring addresses not in RAM",
					vdev->ops->name, q, queue->size);
			return -EINVAL;
		}
		queue->signalled_used = 0;
	}
	return 0;
}

static void vp_activate_on_thread(void *opaque)
{
	struct virtio_dev *vdev = opaque;
	int ret = vp_setup_queues(vdev);

	if (!ret)
		ret = vdev->ops->activate(vdev);
	if (ret) {
		virtio_set_needs_reset(vdev, "cannot activate");
		return;
	}
	vdev->active = true;
	for (unsigned q = 0; q < vdev->num_queues; q++) {
		struct virtio_queue *queue = &vdev->queues[q];

		if (queue->enabled && evloop_add(vdev->loop, queue->kick_fd, vp_kick, queue))
			virtio_set_needs_reset(vdev, "cannot watch a queue");
	}
	/* Notifications that came before DRIVER_OK wait in the eventfds, which
	 * the loop now sees as readable. */
}

static void vp_reset_on_thread(void *opaque)
{
	struct virtio_dev *vdev = opaque;

	if (!vdev->active)
		return;
	for (unsigned q = 0; q < vdev->num_queues; q++) {
		if (vdev->queues[q].enabled)
			evloop_del(vdev->loop, vdev->queues[q].kick_fd);
	}
	vdev->ops->reset(vdev);
	vdev->active = false;
}

/* virtio 1.2 §2.4: back to the state after power-on. On a vCPU thread. */
static void vp_reset(struct virtio_pci *vp)
{
	struct virtio_dev *vdev = vp->vdev;
	uint64_t n;

	evloop_call(vdev->loop, vp_reset_on_thread, vdev);
	pthread_mutex_lock(&vdev->lock);
	vdev->status = 0;
	vdev->driver_features = 0;
	pthread_mutex_unlock(&vdev->lock);
	vp->driver_features = 0;
	vp->device_feature_select = vp->driver_feature_select = 0;
	vp->queue_select = 0;
	vp->config_msix_vector = MSIX_NO_VECTOR;
	vp->isr = 0;
	for (unsigned q = 0; q < vdev->num_queues; q++) {
		struct virtio_queue *queue = &vdev->queues[q];

		queue->size = queue->size_max;
		queue->msix_vector = MSIX_NO_VECTOR;
		queue->enabled = false;
		queue->desc = queue->driver = queue->device = 0;
		queue->vq = (struct virtq){ .broken = true };
		if (read(queue->kick_fd, &n, sizeof(n)) < 0) {
			/* nothing pending: fine */
		}
	}
}

/* --- common configuration (virtio 1.2 §4.1.4.3) --- */

static void vp_write_status(struct virtio_pci *vp, uint8_t value)
{
	struct virtio_dev *vdev = vp->vdev;
	uint64_t required = 1ULL << VIRTIO_F_VERSION_1;
	uint8_t old;
	bool activate;

	if (value == 0) {
		vp_reset(vp);
		return;
	}
	pthread_mutex_lock(&vdev->lock);
	old = vdev->status;
	/* §2.1.1: the driver must not clear a status bit, only reset them all.
	 * Ignore attempts: setting DRIVER_OK again would activate a running
	 * device twice, and FEATURES_OK again change its features under it. */
	value |= old;
	if ((value & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
		/* §2.2.2: accept only offered bits, and modern devices need VERSION_1 */
		if ((vp->driver_features & ~vdev->features) ||
		    (vp->driver_features & required) != required)
			value &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
		else
			vdev->driver_features = vp->driver_features;
	}
	if (!(value & VIRTIO_STATUS_FEATURES_OK))
		value &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK; /* §3.1.1: features first */
	activate = (value & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK);
	/* NEEDS_RESET is the device's, and stays until a reset. */
	vdev->status = (uint8_t)(value | (old & VIRTIO_STATUS_NEEDS_RESET));
	pthread_mutex_unlock(&vdev->lock);
	if (activate)
		evloop_call(vdev->loop, vp_activate_on_thread, vdev);
}

static struct virtio_queue *vp_selected(struct virtio_pci *vp)
{
	return vp->queue_select < vp->vdev->num_queues ? &vp->vdev->queues[vp->queue_select] : NULL;
}

static uint32_t vp_common_read(struct virtio_pci *vp, unsigned off)
{
	struct virtio_dev *vdev = vp->vdev;
	struct virtio_queue *q = vp_selected(vp);
	uint32_t value = 0;

	switch (off) {
	case CC_DFSELECT: return vp->device_feature_select;
	case CC_DF:
		return vp->device_feature_select < 2
			       ? (uint32_t)(vdev->features >> (32 * vp->device_feature_select))
			       : 0;
	case CC_GFSELECT: return vp->driver_feature_select;
	case CC_GF:
		return vp->driver_feature_select < 2
			       ? (uint32_t)(vp->driver_features >> (32 * vp->driver_feature_select))
			       : 0;
	case CC_MSIX: return vp->config_msix_vector;
	case CC_NUMQ: return vdev->num_queues;
	case CC_STATUS:
		pthread_mutex_lock(&vdev->lock);
		value = vdev->status;
		pthread_mutex_unlock(&vdev->lock);
		return value;
	case CC_CFGGEN: return (uint8_t)atomic_load(&vdev->config_generation);
	case CC_Q_SELECT: return vp->queue_select;
	}
	if (!q)
		return 0; /* §4.1.4.3.2: an absent queue reads as size 0 */
	switch (off) {
	case CC_Q_SIZE: return q->size;
	case CC_Q_MSIX: return q->msix_vector;
	case CC_Q_ENABLE: return q->enabled;
	case CC_Q_NOFF: return vp->queue_select;
	case CC_Q_DESCLO: return (uint32_t)q->desc;
	case CC_Q_DESCHI: return (uint32_t)(q->desc >> 32);
	case CC_Q_AVAILLO: return (uint32_t)q->driver;
	case CC_Q_AVAILHI: return (uint32_t)(q->driver >> 32);
	case CC_Q_USEDLO: return (uint32_t)q->device;
	case CC_Q_USEDHI: return (uint32_t)(q->device >> 32);
	}
	return 0;
}

static void set_half(uint64_t *field, bool high, uint32_t value)
{
	if (high)
		*field = (*field & 0xffffffffULL) | (uint64_t)value << 32;
	else
		*field = (*field & ~0xffffffffULL) | value;
}

static uint16_t vp_vector(const struct virtio_pci *vp, uint32_t value)
{
	/* §4.1.5.1.2: a vector the device cannot use reads back as NO_VECTOR */
	return value < vp->msix.nvec ? (uint16_t)value : MSIX_NO_VECTOR;
}

static void vp_queue_write(struct virtio_pci *vp, unsigned off, uint32_t value)
{
	struct virtio_queue *q = vp_selected(vp);

	/* §4.1.4.3.2: the driver configures a queue only while it is disabled */
	if (!q || (q->enabled && off != CC_Q_MSIX))
		return;
	switch (off) {
	case CC_Q_SIZE:
		/* a power of 2 up to the maximum; checked again by virtq_init() */
		q->size = value && value <= q->size_max && !(value & (value - 1)) ? (uint16_t)value
										  : q->size;
		break;
	case CC_Q_MSIX: q->msix_vector = vp_vector(vp, value); break;
	case CC_Q_ENABLE: q->enabled = value == 1; break;
	case CC_Q_DESCLO:
	case CC_Q_DESCHI: set_half(&q->desc, off == CC_Q_DESCHI, value); break;
	case CC_Q_AVAILLO:
	case CC_Q_AVAILHI: set_half(&q->driver, off == CC_Q_AVAILHI, value); break;
	case CC_Q_USEDLO:
	case CC_Q_USEDHI: set_half(&q->device, off == CC_Q_USEDHI, value); break;
	}
}

static void vp_common_write(struct virtio_pci *vp, unsigned off, uint32_t value)
{
	switch (off) {
	case CC_DFSELECT: vp->device_feature_select = value; break;
	case CC_GFSELECT: vp->driver_feature_select = value; break;
	case CC_GF:
		if (vp->driver_feature_select < 2 &&
		    !(vp->vdev->status & VIRTIO_STATUS_FEATURES_OK))
			set_half(&vp->driver_features, vp->driver_feature_select == 1, value);
		break;
	case CC_MSIX: vp->config_msix_vector = vp_vector(vp, value); break;
	case CC_STATUS: vp_write_status(vp, (uint8_t)value); break;
	case CC_Q_SELECT: vp->queue_select = (uint16_t)value; break;
	default: vp_queue_write(vp, off, value); break;
	}
}

/* The width of the common-config field at off, or 0 for no field. */
static unsigned vp_common_width(unsigned off)
{
	if (off == CC_STATUS || off == CC_CFGGEN)
		return 1;
	if (off < CC_MSIX || off >= CC_Q_DESCLO)
		return off % 4 == 0 && off < VP_COMMON_LEN ? 4 : 0;
	return off % 2 == 0 ? 2 : 0;
}

static uint32_t load_le(const void *data, unsigned len)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < len && i < 4; i++)
		v |= (uint32_t)((const uint8_t *)data)[i] << (8 * i);
	return v;
}

static void store_le(void *data, unsigned len, uint32_t v)
{
	for (unsigned i = 0; i < len; i++)
		((uint8_t *)data)[i] = i < 4 ? (uint8_t)(v >> (8 * i)) : 0;
}

/* --- BAR 4 --- */

static void vp_device_cfg_read(struct virtio_pci *vp, uint64_t off, void *data, unsigned len)
{
	struct virtio_dev *vdev = vp->vdev;

	if (off + len > vdev->config_size) {
		memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&vdev->lock);
	memcpy(data, vdev->config + off, len);
	pthread_mutex_unlock(&vdev->lock);
}

/* Only the device decides what a driver may change in its configuration. */
static void vp_device_cfg_write(struct virtio_pci *vp, uint64_t off, const void *data, unsigned len)
{
	struct virtio_dev *vdev = vp->vdev;

	if (off + len <= vdev->config_size && vdev->ops->config_write)
		vdev->ops->config_write(vdev, (unsigned)off, data, len);
}

static void vp_bar_read(void *opaque, uint64_t offset, void *data, unsigned len)
{
	struct virtio_pci *vp = opaque;
	unsigned region = (unsigned)(offset & ~(uint64_t)(VP_REGION - 1));
	uint64_t off = offset - region;

	if (region == VP_COMMON && vp_common_width((unsigned)off) == len) {
		store_le(data, len, vp_common_read(vp, (unsigned)off));
	} else if (region == VP_ISR && off == 0 && len == 1) {
		/* §4.1.4.5.1: reading clears */
		*(uint8_t *)data = __atomic_exchange_n(&vp->isr, 0, __ATOMIC_SEQ_CST);
	} else if (region == VP_DEVICE) {
		vp_device_cfg_read(vp, off, data, len);
	} else {
		memset(data, region == VP_NOTIFY ? 0 : 0xff, len);
	}
}

static void vp_bar_write(void *opaque, uint64_t offset, const void *data, unsigned len)
{
	struct virtio_pci *vp = opaque;
	unsigned region = (unsigned)(offset & ~(uint64_t)(VP_REGION - 1));
	uint64_t off = offset - region;

	if (region == VP_COMMON && vp_common_width((unsigned)off) == len) {
		vp_common_write(vp, (unsigned)off, load_le(data, len));
	} else if (region == VP_DEVICE) {
		vp_device_cfg_write(vp, off, data, len);
	} else if (region == VP_NOTIFY && off % VP_NOTIFY_MULT == 0 &&
		   off / VP_NOTIFY_MULT < vp->vdev->num_queues) {
		/* A notification that missed the ioeventfd (another width): same effect. */
		uint64_t one = 1;

		if (write(vp->vdev->queues[off / VP_NOTIFY_MULT].kick_fd, &one, sizeof(one)) < 0)
			LOG_RATELIMITED("%s: cannot signal a notification", vp->vdev->ops->name);
	}
}

static const struct bus_dev_ops vp_bar_ops = { .read = vp_bar_read, .write = vp_bar_write };

/* --- BAR 1: MSI-X --- */

static void vp_msix_read(void *opaque, uint64_t offset, void *data, unsigned len)
{
	struct virtio_pci *vp = opaque;

	if (offset >= VP_PBA_OFFSET)
		msix_pba_read(&vp->msix, offset - VP_PBA_OFFSET, data, len);
	else
		msix_table_read(&vp->msix, offset, data, len);
}

static void vp_msix_write(void *opaque, uint64_t offset, const void *data, unsigned len)
{
	struct virtio_pci *vp = opaque;

	if (offset < VP_PBA_OFFSET)
		msix_table_write(&vp->msix, offset, data, len);
}

static const struct bus_dev_ops vp_msix_ops = { .read = vp_msix_read, .write = vp_msix_write };

/*
 * --- The PCI configuration access capability (§4.1.4.9) ---
 * A window into the BARs from configuration space: the driver sets cap.bar,
 * cap.offset and cap.length, then reads or writes pci_cfg_data. Guest
 * values, checked here: 1, 2 or 4 bytes, aligned, inside one of our BARs;
 * anything else accesses nothing.
 */
#define VP_CFG_BAR    4	 /* cap.bar */
#define VP_CFG_OFFSET 8	 /* cap.offset */
#define VP_CFG_LENGTH 12 /* cap.length */
#define VP_CFG_DATA   16 /* pci_cfg_data[4] */

static bool vp_cfg_window(struct virtio_pci *vp, const struct bus_dev_ops **ops, uint32_t *off,
			  unsigned *len)
{
	const uint8_t *c = vp->pci.config + vp->cfg_cap;
	uint32_t o = get_le32(c + VP_CFG_OFFSET), l = get_le32(c + VP_CFG_LENGTH), size;

	switch (c[VP_CFG_BAR]) {
	case VP_BAR:
		*ops = &vp_bar_ops;
		size = VP_BAR_SZ;
		break;
	case VP_BAR_MSIX:
		*ops = &vp_msix_ops;
		size = VP_BAR_MSIX_SZ;
		break;
	default: return false;
	}
	if ((l != 1 && l != 2 && l != 4) || o % l || o > size - l)
		return false;
	*off = o;
	*len = (unsigned)l;
	return true;
}

/* Whether config bytes [offset, offset+len) touch pci_cfg_data. */
static bool vp_cfg_data_hit(const struct virtio_pci *vp, unsigned offset, unsigned len)
{
	unsigned data = vp->cfg_cap + VP_CFG_DATA;

	return vp->cfg_cap && offset < data + 4 && offset + len > data;
}

/* --- PCI hooks --- */

static void vp_config_written(struct pci_device *dev, unsigned offset, unsigned len)
{
	struct virtio_pci *vp = dev->opaque;
	const struct bus_dev_ops *ops;
	uint32_t off;
	unsigned n;

	msix_config_written(&vp->msix, offset, len);
	if (vp_cfg_data_hit(vp, offset, len) && vp_cfg_window(vp, &ops, &off, &n))
		ops->write(vp, off, dev->config + vp->cfg_cap + VP_CFG_DATA, n);
}

static void vp_config_read(struct pci_device *dev, unsigned offset, unsigned len)
{
	struct virtio_pci *vp = dev->opaque;
	const struct bus_dev_ops *ops;
	uint32_t off;
	unsigned n;

	if (vp_cfg_data_hit(vp, offset, len) && vp_cfg_window(vp, &ops, &off, &n))
		ops->read(vp, off, dev->config + vp->cfg_cap + VP_CFG_DATA, n);
}

/* Queue notifications become ioeventfds where the BAR is, so they never exit to hutch. */
static void vp_bar_mapped(struct pci_device *dev, unsigned idx, uint64_t addr, bool mapped)
{
	struct virtio_pci *vp = dev->opaque;
	const struct pci_platform *p = vp->platform;

	if (idx != VP_BAR)
		return;
	for (unsigned q = 0; q < vp->vdev->num_queues; q++) {
		uint64_t at = addr + VP_NOTIFY + q * VP_NOTIFY_MULT;
		/* Linux writes the queue index with a 16-bit store */
		int ret = p->ioeventfd(p->opaque, at, 2, vp->vdev->queues[q].kick_fd, mapped);

		if (ret)
			LOG_RATELIMITED("%s: ioeventfd at %#llx: %s", vp->vdev->ops->name,
					(unsigned long long)at, strerror(-ret));
	}
	vp->notify_base = mapped ? addr + VP_NOTIFY : 0;
}

static const struct pci_device_ops vp_pci_ops = {
	.config_written = vp_config_written,
	.config_read = vp_config_read,
	.bar_mapped = vp_bar_mapped,
};

static int vp_add_caps(struct virtio_pci *vp)
{
	struct virtio_dev *vdev = vp->vdev;
	int ret = vp_add_cap(vp, VIRTIO_PCI_CAP_COMMON_CFG, VP_COMMON, VP_COMMON_LEN, 0, false);

	if (ret >= 0)
		ret = vp_add_cap(vp, VIRTIO_PCI_CAP_ISR_CFG, VP_ISR, 1, 0, false);
	if (ret >= 0 && vdev->config_size)
		ret = vp_add_cap(vp, VIRTIO_PCI_CAP_DEVICE_CFG, VP_DEVICE, vdev->config_size, 0,
				 false);
	if (ret >= 0)
		ret = vp_add_cap(vp, VIRTIO_PCI_CAP_NOTIFY_CFG, VP_NOTIFY,
				 vdev->num_queues * VP_NOTIFY_MULT, VP_NOTIFY_MULT, true);
	if (ret >= 0)
		ret = vp_add_cap(vp, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, 0, true);
	if (ret < 0)
		return ret;
	/* the driver sets bar, offset and length, and reads or writes the data */
	vp->cfg_cap = (uint8_t)ret;
	vp->pci.wmask[ret + VP_CFG_BAR] = 0xff;
	memset(vp->pci.wmask + ret + VP_CFG_OFFSET, 0xff, 12);
	return 0;
}

int virtio_pci_init(struct virtio_pci *vp, struct virtio_dev *vdev,
		    const struct pci_platform *platform, const struct gmem *mem,
		    const char *thread_name)
{
	int ret;

	if (!vdev->num_queues || vdev->num_queues > VIRTIO_MAX_QUEUES ||
	    vdev->config_size > VP_REGION)
		return -EINVAL;
	memset(vp, 0, sizeof(*vp));
	vp->vdev = vdev;
	vp->platform = platform;
	vdev->mem = mem;
	vdev->features |= 1ULL << VIRTIO_F_VERSION_1;
	vdev->transport = &vp_transport_ops;
	vdev->transport_opaque = vp;
	pthread_mutex_init(&vdev->lock, NULL);
	for (unsigned q = 0; q < vdev->num_queues; q++)
		vdev->queues[q].kick_fd = -1; /* for virtio_pci_destroy() after a failure */
	for (unsigned q = 0; q < vdev->num_queues; q++) {
		vdev->queues[q].vdev = vdev;
		vdev->queues[q].index = q;
		vdev->queues[q].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vdev->queues[q].kick_fd < 0)
			return -errno;
	}
	/* virtio 1.2 §4.1.2: vendor 0x1af4, device 0x1040 + ID, revision 1 or more */
	pci_device_init(&vp->pci, 0x1af4, (uint16_t)(0x1040 + vdev->ops->device_id),
			vdev->ops->pci_class, 1);
	vp->pci.ops = &vp_pci_ops;
	vp->pci.opaque = vp;
	ret = pci_device_set_bar(&vp->pci, VP_BAR_MSIX, VP_BAR_MSIX_SZ, false, false, &vp_msix_ops,
				 vp);
	if (!ret)
		ret = pci_device_set_bar(&vp->pci, VP_BAR, VP_BAR_SZ, true, true, &vp_bar_ops, vp);
	if (!ret)
		ret = vp_add_caps(vp);
	/* One vector per queue plus one for configuration changes; with more
	 * queues than that, drivers share vectors. */
	if (!ret)
		ret = msix_init(&vp->msix, &vp->pci, platform,
				vdev->num_queues < MSIX_MAX_VECTORS ? vdev->num_queues + 1
								    : MSIX_MAX_VECTORS,
				VP_BAR_MSIX, 0, VP_PBA_OFFSET);
	if (ret)
		return ret;
	if (!vdev->loop) {
		vdev->loop = evloop_create(thread_name);
		if (!vdev->loop)
			return -ENOMEM;
		vdev->owns_loop = true;
	}
	vp_reset(vp);
	return 0;
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
	struct virtio_dev *vdev = vp->vdev;

	if (vdev->loop) {
		evloop_call(vdev->loop, vp_reset_on_thread, vdev);
		if (vdev->owns_loop)
			evloop_destroy(vdev->loop);
		vdev->loop = NULL;
	}
	msix_destroy(&vp->msix);
	for (unsigned q = 0; q < vdev->num_queues; q++) {
		if (vdev->queues[q].kick_fd >= 0)
			close(vdev->queues[q].kick_fd);
		vdev->queues[q].kick_fd = -1;
	}
}
