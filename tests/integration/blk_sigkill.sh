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
tr -d '\r' <"$OUT" | grep -a '^synced ' >"$TEST_TMP/synced"
check_synced "$TEST_TMP/check.img" "$TEST_TMP/synced"
((SYNCED == 8)) || fail "expected 8 synced files, saw $SYNCED"
pass "after SIGKILL, all $SYNCED synced files are intact (e2fsck rc $FSCK_RC)"
