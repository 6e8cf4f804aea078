#!/usr/bin/env bash
# Two disks are vda and vdb in --disk order, each with its own size, serial
# and data; DISCARD and WRITE_ZEROES reach the image.
. "$(dirname "$0")/lib.sh"
require_kvm

A=$TEST_TMP/a.img
B=$TEST_TMP/b.img
truncate -s 32M "$A"
head -c 16M /dev/urandom >"$B"

run_guest 'for d in vda vdb; do echo "$d: $(cat /sys/block/$d/size) $(cat /sys/block/$d/serial)"; done
printf disk-a-data | dd of=/dev/vda bs=512 seek=100 conv=fsync 2>/dev/null
echo "vdb-tail: $(dd if=/dev/vdb bs=1M skip=15 count=1 2>/dev/null | md5sum)"
blkdiscard -o 1048576 -l 1048576 /dev/vdb && echo discard: ok
/bin/blkdiscard -z -o 4194304 -l 1048576 /dev/vdb && echo zeroout: ok' \
	--disk "path=$A,serial=first" --disk "path=$B,serial=second"
expect_rc 0
expect_out '^vda: 65536 first'
expect_out '^vdb: 32768 second'
expect_out "^vdb-tail: $(dd if="$B" bs=1M skip=15 count=1 2>/dev/null | md5sum)"
[[ $(dd if="$A" bs=512 skip=100 count=1 2>/dev/null | head -c 11) == disk-a-data ]] ||
	fail "vda's write is not in the first image"
pass "two disks: vda and vdb in order, own sizes, serials and data"

expect_out '^discard: ok'
expect_out '^zeroout: ok'
[[ $(dd if="$B" bs=1M skip=1 count=1 2>/dev/null | tr -d '\0' | wc -c) == 0 ]] ||
	fail "DISCARD did not punch a hole in the image"
[[ $(dd if="$B" bs=1M skip=4 count=1 2>/dev/null | tr -d '\0' | wc -c) == 0 ]] ||
	fail "WRITE_ZEROES left data in the image"
pass "discard and write-zeroes reach the image"
