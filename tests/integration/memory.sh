#!/usr/bin/env bash
# --mem 3G shows about 3 GiB; --mem 4G shows all 4 GiB although RAM is split
# around the 32-bit MMIO hole.
. "$(dirname "$0")/lib.sh"
require_kvm

check_mem() {
	local size=$1 min_kib=$2 max_kib=$3 kib
	run_guest 'echo memtotal=$(awk "/^MemTotal/ {print \$2}" /proc/meminfo)' --mem "$size"
	expect_rc 0
	kib=$(grep -ao '^memtotal=[0-9]*' "$OUT" | cut -d= -f2)
	[[ -n $kib ]] || fail "no MemTotal for --mem $size"
	((kib >= min_kib && kib <= max_kib)) ||
		fail "--mem $size: MemTotal $kib kB not in [$min_kib, $max_kib]"
	pass "--mem $size: MemTotal $kib kB"
}

# MemTotal excludes what the kernel reserves for itself (tens of MiB).
check_mem 3G $((3 * 1024 * 1024 - 200 * 1024)) $((3 * 1024 * 1024))
check_mem 4G $((4 * 1024 * 1024 - 200 * 1024)) $((4 * 1024 * 1024))
