#!/usr/bin/env bash
# A bzImage boots through the 64-bit boot protocol to init, runs the script,
# and the guest's poweroff ends hutch with exit 0.
. "$(dirname "$0")/lib.sh"
require_kvm
run_hutch --kernel "$BZIMAGE" --initrd "$INITRD" \
	--cmdline "$CMDLINE_BASE $(script_arg 'echo bz-$((6*7)); cat /proc/cmdline')"
expect_out '^HUTCH-INIT-OK'
expect_out '^bz-42'
expect_out 'HUTCH-SCRIPT-EXIT=0'
expect_rc 0
pass "bzImage boots to init and powers off with exit 0"
