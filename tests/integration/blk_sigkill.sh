#!/usr/bin/env bash
# Nothing acknowledged is lost: the guest writes files and syncs (FLUSH is
# an fdatasync before it completes), then hutch is killed with SIGKILL. The
# image is consistent (e2fsck, journal replay) and every synced file intact.
. "$(dirname "$0")/lib.sh"
require_kvm

IMG=$TEST_TMP/disk.img
truncate -s 128M "$IMG"
mkfs.ext4 -q -F "$IMG"

SCRIPT='mkdir -p /mnt && mount -t ext4 /dev/vda /mnt
i=0
while [ $i -lt 8 ]; do
	dd if=/dev/urandom of=/mnt/f$i bs=64k count=16 2>/dev/null
	sync
	echo "synced f$i $(md5sum < /mnt/f$i)"
	i=$((i + 1))
done
echo all-synced
# keep writing unsynced data until killed
while :; do dd if=/dev/urandom of=/mnt/unsynced bs=64k count=16 2>/dev/null; done'
"$HUTCH" run --kernel "$KERNEL" --initrd "$INITRD" \
	--cmdline "$CMDLINE_BASE $(script_arg "$SCRIPT")" --disk "path=$IMG" \
	</dev/null >"$OUT" 2>&1 &
PID=$!
wait_for_out '^all-synced' "$GUEST_TIMEOUT"
sleep 1
kill -KILL "$PID"
wait "$PID" || true

cp "$IMG" "$TEST_TMP/check.img"
rc=0
e2fsck -fy "$TEST_TMP/check.img" >"$TEST_TMP/fsck" 2>&1 || rc=$?
((rc < 4)) || { cat "$TEST_TMP/fsck"; fail "e2fsck could not repair the image (rc $rc)"; }
n=0
while read -r _ name sum _; do
	got=$(debugfs -R "cat /$name" "$TEST_TMP/check.img" 2>/dev/null | md5sum | awk '{print $1}')
	[[ $got == "$sum" ]] || fail "$name was synced with md5 $sum but reads $got"
	n=$((n + 1))
done < <(grep -a '^synced ' "$OUT")
((n == 8)) || fail "expected 8 synced files, saw $n"
pass "after SIGKILL, all $n synced files are intact (e2fsck rc $rc)"
