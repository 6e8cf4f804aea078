#!/usr/bin/env bash
# The guest finds PCI bus 0 through ACPI (PNP0A08 + MCFG) with hutch's host
# bridge on it, and reaches the extended config space through ECAM.
. "$(dirname "$0")/lib.sh"
require_kvm
run_guest 'd=/sys/bus/pci/devices/0000:00:00.0
echo "pci-devices: $(ls /sys/bus/pci/devices | tr "\n" " ")"
echo "bridge: $(cat $d/vendor $d/device $d/class | tr "\n" " ")"
echo "config-bytes: $(wc -c < $d/config)"
echo "fatal: $(dmesg | grep -c "PCI: Fatal")"
dmesg | grep -iE "MMCONFIG|ECAM" | sed "s/^/log: /"'
expect_rc 0
expect_out '^pci-devices: 0000:00:00.0 [^0-9]*$' # only the bridge
expect_out '^bridge: 0x1b36 0x0008 0x060000 '
expect_out '^config-bytes: 4096'
expect_out '^fatal: 0'
pass "PCI bus 0 with the host bridge, ECAM for extended config space"
