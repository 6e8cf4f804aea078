#!/usr/bin/env bash
# The guest finds PCI bus 0 through ACPI (PNP0A08 + MCFG) with hutch's host
# bridge on it, reaches the extended config space through ECAM, and keeps the
# BARs hutch placed: the virtio device's 32-bit BAR in the window below 4 GiB,
# its 64-bit one in the window above RAM, both described by the DSDT. Its
# MSI-X vectors are enabled. (--display off: the rng is the only device.)
. "$(dirname "$0")/lib.sh"
require_kvm
run_guest 'd=/sys/bus/pci/devices/0000:00:00.0
r=/sys/bus/pci/devices/0000:00:01.0
echo "pci-devices: $(ls /sys/bus/pci/devices | tr "\n" " ")"
echo "bridge: $(cat $d/vendor $d/device $d/class | tr "\n" " ")"
echo "rng: $(cat $r/vendor $r/device | tr "\n" " ")"
echo "config-bytes: $(wc -c < $d/config)"
echo "fatal: $(dmesg | grep -c "PCI: Fatal")"
echo "conflicts: $(dmesg | grep -ciE "BAR .*(conflict|failed to assign|no space)")"
sed -n "2p;5p" $r/resource | sed "s/^/bar: /"
echo "msix: $(grep -c PCI-MSI /proc/interrupts)"
dmesg | grep -iE "MMCONFIG|ECAM|root bus resource" | sed "s/^/log: /"' --display off
expect_rc 0
expect_out '^pci-devices: 0000:00:00.0 0000:00:01.0 [^0-9]*$' # the bridge, virtio-rng
expect_out '^bridge: 0x1b36 0x0008 0x060000 '
expect_out '^rng: 0x1af4 0x1044 '
expect_out '^config-bytes: 4096'
expect_out '^fatal: 0'
expect_out '^conflicts: 0'
expect_out '^bar: 0x00000000c[0-9a-f]{7} 0x00000000c[0-9a-f]{7} 0x0000000000040200'
expect_out '^bar: 0x0000000[1-9][0-9a-f]{8} 0x0000000[1-9][0-9a-f]{8} 0x000000000014220c'
expect_out '^msix: [1-9]'
expect_out 'root bus resource \[mem 0x[0-9a-f]{9,}-0x[0-9a-f]+ window\]'
pass "PCI bus 0: host bridge, ECAM, a virtio device with BARs in both windows and MSI-X"
