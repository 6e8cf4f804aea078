#!/usr/bin/env bash
# An uncompressed ELF vmlinux boots through its PVH entry note, with the
# initrd and the command line handed over in start_info.
. "$(dirname "$0")/lib.sh"
require_kvm
run_guest 'echo pvh-ok; grep -o "hutch.script" /proc/cmdline; ls /lib/modules | wc -l' --stats
expect_out '^HUTCH-INIT-OK'
expect_out '^pvh-ok'
expect_out '^hutch.script'
expect_out 'HUTCH-SCRIPT-EXIT=0'
expect_rc 0
pass "PVH vmlinux boots with initrd and command line"
# --stats: KVM's own counters, read through KVM_GET_STATS_FD at exit.
expect_out '^hutch: VM exits: [1-9][0-9]* \(port I/O [1-9][0-9]*, MMIO [0-9]+, halt [0-9]+'
pass "--stats: $(grep -a '^hutch: VM exits' "$OUT")"
