/* MSI-X: each vector is an eventfd bound by irqfd to a GSI whose route is the guest's message. */
#include "devices/pci/msix.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/log.h"

/* PCI 3.0 §6.8.2.3: Message Control. */
#define MSIX_CTRL_ENABLE 0x8000
#define MSIX_CTRL_MASK	 0x4000
/* PCI 3.0 §6.8.2.9: Vector Control bit 0. */
#define MSIX_VECTOR_MASKED 1
#define MSIX_CAP_ID	   0x11

int msix_init(struct msix *msix, struct pci_device *dev, const struct pci_platform *platform,
	      unsigned nvec, unsigned bar, uint32_t table_offset, uint32_t pba_offset)
{
	uint8_t cap[12] = { MSIX_CAP_ID, 0 };
	int off;

	if (nvec == 0 || nvec > MSIX_MAX_VECTORS || bar >= PCI_NUM_BARS || (table_offset & 7) ||
	    (pba_offset & 7))
		return -EINVAL;
	memset(msix, 0, sizeof(*msix));
	pthread_mutex_init(&msix->lock, NULL);
	msix->dev = dev;
	msix->platform = platform;
	msix->nvec = nvec;
	cap[2] = (uint8_t)(nvec - 1); /* table size, N-1 encoded */
	cap[3] = (uint8_t)((nvec - 1) >> 8);
	for (unsigned i = 0; i < 4; i++) {
		cap[4 + i] = (uint8_t)((table_offset | bar) >> (8 * i));
		cap[8 + i] = (uint8_t)((pba_offset | bar) >> (8 * i));
	}
	off = pci_device_add_cap(dev, cap, sizeof(cap));
	if (off < 0)
		return off;
	msix->cap = (uint8_t)off;
	dev->wmask[off + 3] = (MSIX_CTRL_ENABLE | MSIX_CTRL_MASK) >> 8;
	for (unsigned v = 0; v < nvec; v++) {
		struct msix_vector *vec = &msix->vec[v];
		int ret;

		vec->ctrl = MSIX_VECTOR_MASKED;
		vec->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		vec->gsi = platform->gsi_alloc(platform->opaque);
		if (vec->fd < 0)
			return -errno;
		if (vec->gsi < 0)
			return vec->gsi;
		ret = platform->irqfd(platform->opaque, vec->fd, (unsigned)vec->gsi, true);
		if (ret)
			return ret;
	}
	return 0;
}

void msix_destroy(struct msix *msix)
{
	for (unsigned v = 0; v < msix->nvec; v++) {
		if (msix->vec[v].fd > 0)
			close(msix->vec[v].fd);
	}
	pthread_mutex_destroy(&msix->lock);
}

/* Caller holds the lock. */
static void msix_fire(struct msix *msix, unsigned v)
{
	struct msix_vector *vec = &msix->vec[v];
	uint64_t one = 1;

	if (vec->route_stale) {
		uint64_t addr = (uint64_t)vec->addr_hi << 32 | vec->addr_lo;
		int ret = msix->platform->msi_route(msix->platform->opaque, (unsigned)vec->gsi,
						    addr, vec->data);

		if (ret) {
			LOG_RATELIMITED("msix: cannot route vector %u: %s", v, strerror(-ret));
			return;
		}
		vec->route_stale = false;
	}
	if (write(vec->fd, &one, sizeof(one)) < 0)
		LOG_RATELIMITED("msix: cannot raise vector %u: %s", v, strerror(errno));
}

static bool msix_blocked(const struct msix *msix, unsigned v)
{
	return !msix->enabled || msix->masked || (msix->vec[v].ctrl & MSIX_VECTOR_MASKED);
}

/* Caller holds the lock: deliver what became unmasked. */
static void msix_deliver_pending(struct msix *msix)
{
	for (unsigned v = 0; v < msix->nvec; v++) {
		if ((msix->pending >> v & 1) && !msix_blocked(msix, v)) {
			msix->pending &= ~(1ULL << v);
			msix_fire(msix, v);
		}
	}
}

void msix_notify(struct msix *msix, unsigned vector)
{
	if (vector >= msix->nvec)
		return;
	pthread_mutex_lock(&msix->lock);
	if (msix_blocked(msix, vector))
		msix->pending |= 1ULL << vector;
	else
		msix_fire(msix, vector);
	pthread_mutex_unlock(&msix->lock);
}

void msix_table_read(struct msix *msix, uint64_t offset, void *data, unsigned len)
{
	uint32_t value = 0xffffffffu;

	/* PCI 3.0 §6.8.2: dword (or qword) accesses, naturally aligned. */
	pthread_mutex_lock(&msix->lock);
	if ((len == 4 || len == 8) && !(offset & (len - 1)) &&
	    offset + len <= MSIX_TABLE_SIZE(msix->nvec)) {
		for (unsigned i = 0; i < len; i += 4) {
			const struct msix_vector *vec = &msix->vec[(offset + i) / 16];
			const uint32_t words[4] = { vec->addr_lo, vec->addr_hi, vec->data,
						    vec->ctrl };

			value = words[((offset + i) % 16) / 4];
			memcpy((uint8_t *)data + i, &value, 4);
		}
		pthread_mutex_unlock(&msix->lock);
		return;
	}
	pthread_mutex_unlock(&msix->lock);
	memset(data, 0xff, len);
}

static void msix_write_word(struct msix *msix, unsigned v, unsigned word, uint32_t value)
{
	struct msix_vector *vec = &msix->vec[v];

	switch (word) {
	case 0:
		value &= ~3u; /* PCI 3.0 §6.8.2.6: bits 1:0 are 0 */
		vec->route_stale |= vec->addr_lo != value;
		vec->addr_lo = value;
		break;
	case 1:
		vec->route_stale |= vec->addr_hi != value;
		vec->addr_hi = value;
		break;
	case 2:
		vec->route_stale |= vec->data != value;
		vec->data = value;
		break;
	default: vec->ctrl = value & MSIX_VECTOR_MASKED; break;
	}
}

void msix_table_write(struct msix *msix, uint64_t offset, const void *data, unsigned len)
{
	if ((len != 4 && len != 8) || (offset & (len - 1)) ||
	    offset + len > MSIX_TABLE_SIZE(msix->nvec))
		return;
	pthread_mutex_lock(&msix->lock);
	for (unsigned i = 0; i < len; i += 4) {
		uint32_t value;

		memcpy(&value, (const uint8_t *)data + i, 4);
		msix_write_word(msix, (unsigned)((offset + i) / 16), ((offset + i) % 16) / 4,
				value);
	}
	msix_deliver_pending(msix);
	pthread_mutex_unlock(&msix->lock);
}

void msix_pba_read(struct msix *msix, uint64_t offset, void *data, unsigned len)
{
	uint64_t pba;

	pthread_mutex_lock(&msix->lock);
	pba = msix->pending;
	pthread_mutex_unlock(&msix->lock);
	if ((len == 4 || len == 8) && !(offset & (len - 1)) && offset + len <= 8) {
		pba >>= 8 * offset;
		memcpy(data, &pba, len);
	} else {
		memset(data, 0, len);
	}
}

void msix_config_written(struct msix *msix, unsigned offset, unsigned len)
{
	uint16_t ctrl;

	if (offset + len <= msix->cap + 2u || offset >= msix->cap + 4u)
		return;
	ctrl = (uint16_t)(msix->dev->config[msix->cap + 2] | msix->dev->config[msix->cap + 3] << 8);
	pthread_mutex_lock(&msix->lock);
	msix->enabled = ctrl & MSIX_CTRL_ENABLE;
	msix->masked = ctrl & MSIX_CTRL_MASK;
	msix_deliver_pending(msix);
	pthread_mutex_unlock(&msix->lock);
}

void msix_reset(struct msix *msix)
{
	pthread_mutex_lock(&msix->lock);
	msix->enabled = msix->masked = false;
	msix->pending = 0;
	msix->dev->config[msix->cap + 3] &= (uint8_t) ~((MSIX_CTRL_ENABLE | MSIX_CTRL_MASK) >> 8);
	for (unsigned v = 0; v < msix->nvec; v++) {
		msix->vec[v].ctrl = MSIX_VECTOR_MASKED;
		msix->vec[v].addr_lo = msix->vec[v].addr_hi = msix->vec[v].data = 0;
	}
	pthread_mutex_unlock(&msix->lock);
}
