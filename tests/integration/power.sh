#!/usr/bin/env bash
# Guest poweroff and reboot end hutch with exit 0; a guest kernel panic,
# reported through pvpanic, ends it with exit 3.
. "$(dirname "$0")/lib.sh"
require_kvm

run_guest 'echo before-reboot; reboot -f'
expect_out '^before-reboot'
expect_rc 0
pass "guest reboot: exit 0"

run_guest 'grep -l QEMU0001 /sys/bus/acpi/devices/*/hid >/dev/null && echo pvpanic-device
ls /sys/bus/platform/drivers/pvpanic-mmio 2>/dev/null | grep -q QEMU0001 && echo pvpanic-bound
echo c > /proc/sysrq-trigger'
expect_out '^pvpanic-device'
expect_out '^pvpanic-bound'
expect_out 'guest kernel panicked'
expect_rc 3
pass "guest panic: exit 3"
