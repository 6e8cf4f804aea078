#!/usr/bin/env bash
# qcow2 disks through a real guest, with qemu-img as the judge: a guest
# reads an ext4 file system from a compressed qcow2 base image through an
# overlay made by `hutch img create -b`, and writes to it; the base stays
# byte-identical, the overlay passes `qemu-img check`, and what the guest
# wrote is in it. The format is detected without format=; a raw image taken
# for raw that way refuses a guest write of a qcow2 header to its first
# sector, and format=raw allows it.
. "$(dirname "$0")/lib.sh"
require_kvm
command -v qemu-img >/dev/null || fail "qemu-img is needed (apt-get install qemu-utils)"

RAW=$TEST_TMP/base.raw
BASE=$TEST_TMP/base.qcow2
OV=$TEST_TMP/overlay.qcow2
truncate -s 64M "$RAW"
mkfs.ext4 -q -F "$RAW"
head -c 3000000 /dev/urandom >"$TEST_TMP/payload"
debugfs -w -R "write $TEST_TMP/payload payload" "$RAW" >/dev/null 2>&1
want=$(md5sum <"$TEST_TMP/payload" | awk '{print $1}')
qemu-img convert -c -O qcow2 "$RAW" "$BASE"
base_sum=$(sha256sum <"$BASE")
"$HUTCH" img create -f qcow2 -b "$BASE" -F qcow2 "$OV" >/dev/null || fail "hutch img create -b failed"

SCRIPT='mkdir -p /mnt && mount -t ext4 /dev/vda /mnt || exit 1
echo "payload $(md5sum < /mnt/payload)"
dd if=/dev/urandom of=/mnt/new bs=64k count=40 2>/dev/null
echo "new $(md5sum < /mnt/new)"
rm /mnt/payload
umount /mnt && echo unmounted'
run_guest "$SCRIPT" --disk "path=$OV"
expect_rc 0
expect_out "^payload $want"
expect_out '^unmounted'
pass "the guest reads the compressed base through the overlay (format detected)"

[[ $(sha256sum <"$BASE") == "$base_sum" ]] || fail "the base image changed"
qemu-img check -q "$OV" || fail "qemu-img check finds errors in the overlay"
qemu-img convert -O raw "$OV" "$TEST_TMP/result.raw"
e2fsck -fn "$TEST_TMP/result.raw" >"$TEST_TMP/fsck" 2>&1 || { cat "$TEST_TMP/fsck"; fail "e2fsck: the overlay's file system is damaged"; }
new=$(grep -a '^new ' "$OUT" | awk '{print $2}')
got=$(debugfs -R "cat /new" "$TEST_TMP/result.raw" 2>/dev/null | md5sum | awk '{print $1}')
[[ $got == "$new" ]] || fail "the guest's new file reads $got, not $new"
debugfs -R "stat /payload" "$TEST_TMP/result.raw" 2>&1 | grep -q 'not found' ||
	fail "the file the guest removed is still there"
pass "the base is untouched; the overlay passes qemu-img check and holds the guest's writes"

# A second boot of the same overlay with format=qcow2 sees the same thing.
run_guest 'mkdir -p /mnt && mount -o ro -t ext4 /dev/vda /mnt && echo "again $(md5sum < /mnt/new)"' --disk "path=$OV,format=qcow2,readonly=on"
expect_out "^again $new"
pass "format=qcow2,readonly=on reads the same back"

# A raw image taken for raw refuses a qcow2 header in its first sector.
RAWDISK=$TEST_TMP/plain.raw
truncate -s 16M "$RAWDISK"
HDR='printf "QFI\373\000\000\000\003" > /tmp/hdr; dd if=/tmp/hdr of=/dev/vda bs=512 count=1 conv=sync,fsync 2>/dev/null && echo hdr-written || echo hdr-refused'
run_guest "$HDR" --disk "path=$RAWDISK"
expect_out '^hdr-refused'
expect_out 'no format= given, using it as raw'
[[ $(head -c 3 "$RAWDISK") != QFI ]] || fail "the guest wrote a qcow2 header into a probed raw image"
run_guest "$HDR" --disk "path=$RAWDISK,format=raw"
expect_out '^hdr-written'
[[ $(head -c 3 "$RAWDISK") == QFI ]] || fail "format=raw did not allow the write"
pass "a probed raw image refuses a qcow2 header from the guest; format=raw allows it"
