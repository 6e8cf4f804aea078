/* Just enough of the i8042 keyboard controller for the guest to reset the machine. */
#include "devices/legacy/i8042.h"

#include <string.h>

#define I8042_DATA_PORT_OFFSET 0    /* 0x60 */
#define I8042_CMD_PORT_OFFSET  4    /* 0x64 */
#define I8042_CMD_RESET	       0xfe /* pulse the CPU reset line */

static void i8042_read(void *opaque, uint64_t offset, void *data, unsigned len)
{
	(void)opaque;
	(void)offset;
	/* Status 0: no output waiting, input buffer empty; data reads 0. */
	memset(data, 0, len);
}

static void i8042_write(void *opaque, uint64_t offset, const void *data, unsigned len)
{
	struct i8042 *kbc = opaque;

	(void)len;
	if (offset == I8042_CMD_PORT_OFFSET && *(const uint8_t *)data == I8042_CMD_RESET)
		kbc->power->event(kbc->power->opaque, POWER_EVENT_RESET);
}

const struct bus_dev_ops i8042_bus_ops = {
	.read = i8042_read,
	.write = i8042_write,
};
