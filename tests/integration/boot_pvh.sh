#!/usr/bin/env bash
# An uncompressed ELF vmlinux boots through its PVH entry note, with the
# initrd and the command line handed over in start_info.
. "$(dirname "$0")/lib.sh"
require_kvm
run_guest 'echo pvh-ok; grep -o "hutch.script" /proc/cmdline; ls /lib/modules | wc -l'
expect_out '^HUTCH-INIT-OK'
expect_out '^pvh-ok'
expect_out '^hutch.script'
expect_out 'HUTCH-SCRIPT-EXIT=0'
expect_rc 0
pass "PVH vmlinux boots with initrd and command line"
