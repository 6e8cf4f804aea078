#!/usr/bin/env bash
# The guest finds PCI bus 0 through ACPI (PNP0A08 + MCFG) with hutch's host
# bridge on it, reaches the extended config space through ECAM, and keeps the
# BARs hutch placed: the virtio device's 32-bit BAR in the window below 4 GiB,
# its 64-bit one in the window above RAM, both described by the DSDT. Its
# MSI-X vectors are enabled. Its VIRTIO_PCI_CAP_PCI_CFG window reads the
# common configuration from config space. (--display off: the rng is the only device.)
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
# VIRTIO_PCI_CAP_PCI_CFG: the BAR window in config space, through ECAM
byte() { od -An -tu1 -j "$1" -N 1 $r/config | tr -d " "; }
put() { printf "$2" | dd of=$r/config bs=1 seek="$1" conv=notrunc 2>/dev/null; }
p=$(byte 52)
while [ "$p" != 0 ] && ! { [ "$(byte $p)" = 9 ] && [ "$(byte $((p + 3)))" = 5 ]; }; do p=$(byte $((p + 1))); done
put $((p + 4)) "\\004"; put $((p + 8)) "\\022\\000\\000\\000"; put $((p + 12)) "\\002\\000\\000\\000"
echo "pcicfg-num-queues: $(od -An -tu2 -j $((p + 16)) -N 2 $r/config | tr -d " ")"
put $((p + 8)) "\\024"; put $((p + 12)) "\\001"
echo "pcicfg-status: $(byte $((p + 16)))"
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
expect_out '^pcicfg-num-queues: 1[[:space:]]*$'
expect_out '^pcicfg-status: 15[[:space:]]*$' # ACKNOWLEDGE | DRIVER | DRIVER_OK | FEATURES_OK
expect_out 'root bus resource \[mem 0x[0-9a-f]{9,}-0x[0-9a-f]+ window\]'
pass "PCI bus 0: host bridge, ECAM, a virtio device with BARs in both windows and MSI-X"
