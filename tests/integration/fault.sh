#!/usr/bin/env bash
# A guest that triple-faults ends hutch with exit 1 and a dump of the vCPU
# state; SIGINT stops a running guest cleanly with exit 0.
. "$(dirname "$0")/lib.sh"
require_kvm

# A minimal PVH "kernel": one PT_LOAD at 1 MiB holding ud2, and the Xen
# PHYS32_ENTRY note pointing at it. With no IDT the #UD escalates to a
# triple fault at once.
python3 - "$TEST_TMP/fault.elf" <<'PY'
import struct, sys
code = b"\x0f\x0b"                                   # ud2
note = struct.pack("<III", 4, 4, 18) + b"Xen\0" + struct.pack("<I", 0x100000)
ehdr_size, phdr_size = 64, 56
code_off = ehdr_size + 2 * phdr_size
note_off = code_off + 16
ehdr = (b"\x7fELF" + bytes([2, 1, 1]) + bytes(9) +
        struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0x100000, ehdr_size, 0, 0,
                    ehdr_size, phdr_size, 2, 0, 0, 0))
load = struct.pack("<IIQQQQQQ", 1, 5, code_off, 0x100000, 0x100000,
                   len(code), len(code), 0x1000)
pnote = struct.pack("<IIQQQQQQ", 4, 4, note_off, 0, 0, len(note), len(note), 4)
image = ehdr + load + pnote + code.ljust(16, b"\0") + note
open(sys.argv[1], "wb").write(image)
PY
run_hutch --kernel "$TEST_TMP/fault.elf"
expect_rc 1
expect_out 'triple fault'
# What the registers show is the vendor's business: on AMD, KVM has
# already put the vCPU through its reset when it reports the shutdown.
expect_out 'rip=[0-9a-f]{16}'
expect_out 'cr0='
pass "triple fault: exit 1 with the vCPU state"

"$HUTCH" run --kernel "$KERNEL" --initrd "$INITRD" --cmdline "$CMDLINE_BASE" \
	</dev/null >"$OUT" 2>&1 &
pid=$!
wait_for_out '^HUTCH-INIT-OK' "$GUEST_TIMEOUT"
kill -INT "$pid"
set +e
wait "$pid"
RC=$?
set -e
expect_rc 0
expect_out 'hutch: terminating on signal 2'
pass "SIGINT stops hutch cleanly with exit 0"
