#!/usr/bin/env bash
# virtio-blk end to end: the guest makes an ext4 file system on /dev/vda and
# writes files; after poweroff the host finds the image clean (e2fsck) with
# the same contents (debugfs); a second boot reads everything back.
. "$(dirname "$0")/lib.sh"
require_kvm

IMG=$TEST_TMP/disk.img
truncate -s 256M "$IMG"

run_guest 'set -e
mkfs.ext4 -q -F /dev/vda
mkdir -p /mnt && mount -t ext4 /dev/vda /mnt
dd if=/dev/urandom of=/mnt/random bs=64k count=64 2>/dev/null
seq 1 20000 > /mnt/numbers
mkdir /mnt/dir && echo small > /mnt/dir/small
sync
echo "sum-random: $(md5sum < /mnt/random)"
echo "sum-numbers: $(md5sum < /mnt/numbers)"
umount /mnt
echo "serial: $(cat /sys/block/vda/serial)"
echo "size: $(cat /sys/block/vda/size)"
echo "queues: $(ls /sys/block/vda/mq | wc -l)"' --disk "path=$IMG,serial=hutch-disk-0" --cpus 2
expect_rc 0
expect_out '^HUTCH-SCRIPT-EXIT=0'
expect_out '^serial: hutch-disk-0'
expect_out '^size: 524288'
expect_out '^queues: 2'
pass "the guest made ext4 on vda (512 MiB sectors, serial, one queue per vCPU)"

e2fsck -fn "$IMG" >"$TEST_TMP/fsck" 2>&1 || { cat "$TEST_TMP/fsck"; fail "e2fsck found errors"; }
for f in random numbers; do
	want=$(grep -a "^sum-$f: " "$OUT" | awk '{print $2}')
	got=$(debugfs -R "cat /$f" "$IMG" 2>/dev/null | md5sum | awk '{print $1}')
	[[ -n $want && $want == "$got" ]] || fail "/$f: guest md5 $want, image has $got"
done
[[ $(debugfs -R "cat /dir/small" "$IMG" 2>/dev/null) == small ]] || fail "/dir/small differs"
pass "the image is clean (e2fsck -fn) and holds what the guest wrote"

SUMS=$(grep -a '^sum-' "$OUT")
run_guest 'mkdir -p /mnt && mount -t ext4 -o ro /dev/vda /mnt
echo "sum-random: $(md5sum < /mnt/random)"
echo "sum-numbers: $(md5sum < /mnt/numbers)"
echo "small: $(cat /mnt/dir/small)"
umount /mnt' --disk "path=$IMG"
expect_rc 0
[[ $(grep -a '^sum-' "$OUT") == "$SUMS" ]] || fail "the second boot reads different data"
expect_out '^small: small'
pass "a second boot reads the same data back"
