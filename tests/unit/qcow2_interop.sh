#!/bin/sh
# qcow2 interoperability, with QEMU as the oracle: images hutch writes (through
# qcow2_tool, argument 1) must pass `qemu-img check` and match the expected raw
# content under `qemu-img compare`; images qemu-img writes must read back the
# same through hutch. Skipped (77) without qemu-img.
set -eu
TOOL=$1
case $TOOL in /*) ;; *) TOOL=$(pwd)/$TOOL ;; esac
command -v qemu-img >/dev/null 2>&1 || { echo "qemu-img not found: skipped"; exit 77; }
D=$(mktemp -d "${TMPDIR:-/tmp}/hutch-qcow2-XXXXXX")
trap 'rm -rf "$D"' EXIT
cd "$D"

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
rnd() { head -c "$1" /dev/urandom > "$2"; }
# Mirror operations on a raw file: write FILE at OFF, zero LEN bytes at OFF.
mw() { dd if="$2" of="$3" bs=64K seek="$1" oflag=seek_bytes conv=notrunc status=none; }
mz() { dd if=/dev/zero of="$3" bs=64K seek="$1" oflag=seek_bytes iflag=count_bytes \
	count="$2" conv=notrunc status=none; }
qcheck() { qemu-img check "$1" >check.log 2>&1 || { cat check.log; fail "qemu-img check $1"; }; }
# The image must read as the raw file, through qemu-img and through hutch.
same() {
	qemu-img compare -q "$1" "$2" || fail "qemu-img compare $1 $2"
	"$TOOL" -r "$1" dump dump.raw || fail "hutch cannot read $1"
	cmp -s dump.raw "$2" || fail "hutch reads $1 differently from $2"
}
tool() { "$TOOL" "$@" || fail "qcow2_tool $*"; }

rnd 300000 d1; rnd 70000 d2; rnd 1500000 d3; rnd 777 d4
# A compressible source: text, random, zeroes.
{ i=0; while [ $i -lt 4000 ]; do echo "line $i of some compressible text"; i=$((i+1)); done; } > text
{ cat text; head -c 200000 /dev/urandom; head -c 300000 /dev/zero; cat text text; } > src.raw
truncate -s 2M src.raw

step "hutch writes, qemu-img checks (cluster sizes 512 to 2M)"
for cb in 9 12 16 21; do
	rm -f a.qcow2; truncate -s 0 m.raw; truncate -s 8M m.raw
	tool create a.qcow2 8M $cb
	tool a.qcow2 w 0 d1 w 1000 d2 w 5000007 d4 w 3M d3 z 3100000 200000 d 6M 2M w 6500000 d4 \
		z 0 4096 check
	mw 0 d1 m.raw; mw 1000 d2 m.raw; mw 5000007 d4 m.raw; mw 3145728 d3 m.raw
	mz 3100000 200000 m.raw; mz 6291456 2097152 m.raw; mw 6500000 d4 m.raw; mz 0 4096 m.raw
	qcheck a.qcow2; same a.qcow2 m.raw
	# A second session over the same image: cached state must have reached the disk.
	tool a.qcow2 w 4M d2 check
	mw 4194304 d2 m.raw
	qcheck a.qcow2; same a.qcow2 m.raw
done

step "refcount table growth (512-byte clusters, 12 MiB of data)"
rm -f g.qcow2; rnd 12582912 big
tool create g.qcow2 32M 9
tool g.qcow2 w 1M big check
truncate -s 0 m.raw; truncate -s 32M m.raw; mw 1048576 big m.raw
qcheck g.qcow2; same g.qcow2 m.raw

step "backing chains: raw <- qcow2 <- qcow2 in a subdirectory, relative names, COW"
mkdir -p sub; rm -f mid.qcow2 sub/top.qcow2
rnd 4194304 base.raw; cp base.raw m.raw
tool create mid.qcow2 0 16 base.raw raw
tool mid.qcow2 w 70000 d2 w 3000000 d4
mw 70000 d2 m.raw; mw 3000000 d4 m.raw
tool create sub/top.qcow2 0 12 ../mid.qcow2
tool sub/top.qcow2 w 123 d4 z 1M 1M d 2M 64K w 2100000 d4 check
mw 123 d4 m.raw; mz 1048576 1048576 m.raw; mz 2097152 65536 m.raw; mw 2100000 d4 m.raw
qcheck mid.qcow2; qcheck sub/top.qcow2
qemu-img info sub/top.qcow2 | grep -q "backing file format: qcow2" || fail "backing format not recorded"
same sub/top.qcow2 m.raw
step "a larger image over a shorter backing file reads zeroes past it"
rm -f long.qcow2; tool create long.qcow2 6M 16 base.raw raw
tool long.qcow2 w 4190000 d4
cp base.raw m.raw; truncate -s 6M m.raw; mw 4190000 d4 m.raw
qcheck long.qcow2; same long.qcow2 m.raw

step "qemu-img writes (v2, v3, cluster sizes, compressed), hutch reads"
for compat in 0.10 1.1; do
	for cs in 512 4096 65536 2097152; do
		rm -f q.qcow2
		qemu-img convert -q -f raw -O qcow2 -o compat=$compat,cluster_size=$cs src.raw q.qcow2
		same q.qcow2 src.raw
		tool -r q.qcow2 check
		rm -f c.qcow2
		qemu-img convert -q -c -f raw -O qcow2 -o compat=$compat,cluster_size=$cs src.raw c.qcow2
		same c.qcow2 src.raw
		tool -r c.qcow2 check
	done
done

step "qemu-io zero clusters and discards over a backing file, hutch reads"
for compat in 0.10 1.1; do
	rm -f z.qcow2
	qemu-img create -q -f qcow2 -o compat=$compat -b base.raw -F raw z.qcow2
	qemu-io -c "write -P 0x55 100k 10k" -c "write -z 0 64k" -c "write -z 1M 200k" \
		-c "discard 2M 128k" -c "write -P 0xaa 3M 64k" z.qcow2 >/dev/null
	qemu-img convert -O raw z.qcow2 ref.raw
	same z.qcow2 ref.raw
done

step "hutch writes into qemu-img's images (v2, lazy refcounts, refcount widths)"
for opts in compat=0.10 compat=1.1,lazy_refcounts=on refcount_bits=1 refcount_bits=8 \
	refcount_bits=64 cluster_size=4096,refcount_bits=2; do
	rm -f w.qcow2; cp src.raw m.raw
	qemu-img convert -q -f raw -O qcow2 -o "$opts" src.raw w.qcow2
	tool w.qcow2 w 1000 d2 z 65536 131072 w 400000 d3 w 1999000 d4 d 0 64K
	mw 1000 d2 m.raw; mz 65536 131072 m.raw; mw 400000 d3 m.raw; mw 1999000 d4 m.raw
	mz 0 65536 m.raw
	qcheck w.qcow2; same w.qcow2 m.raw
	qemu-img info w.qcow2 | grep -q "corrupt: true" && fail "$opts: marked corrupt"
done

step "hutch compresses, qemu-img checks; rewriting compressed clusters"
rm -f hc.qcow2; tool create hc.qcow2 2M 16
tool hc.qcow2 c src.raw check
qcheck hc.qcow2; same hc.qcow2 src.raw
qemu-img check hc.qcow2 | grep -q "compressed clusters" || true
cp src.raw m.raw
tool hc.qcow2 w 5000 d4 d 64K 64K z 200000 100
mw 5000 d4 m.raw; mz 65536 65536 m.raw; mz 200000 100 m.raw
qcheck hc.qcow2; same hc.qcow2 m.raw
rm -f hc4.qcow2; tool create hc4.qcow2 2M 12
tool hc4.qcow2 c src.raw
qcheck hc4.qcow2; same hc4.qcow2 src.raw
# 1-bit refcounts cannot share a cluster between compressed clusters.
rm -f hc1.qcow2; qemu-img create -q -f qcow2 -o refcount_bits=1,cluster_size=4096 hc1.qcow2 2M
tool hc1.qcow2 c src.raw
qcheck hc1.qcow2; same hc1.qcow2 src.raw

step "a dirty lazy-refcounts image that outgrew its refcount blocks: repaired at open"
rm -f lz.qcow2
qemu-img convert -q -f raw -O qcow2 -o cluster_size=512,lazy_refcounts=on src.raw lz.qcow2
# forget every refcount block but the first (a crash before they were
# written), and mark the image dirty
python3 - lz.qcow2 <<'PY'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(48)
    rt = struct.unpack(">Q", f.read(8))[0]
    for t in range(1, 64):
        f.seek(rt + 8 * t)
        f.write(bytes(8))
    f.seek(72)
    f.write(struct.pack(">Q", 1))
PY
tool lz.qcow2 check # opened writable: the refcounts are rebuilt
rc=0; qemu-img check lz.qcow2 >check.log 2>&1 || rc=$?
[ $rc = 0 ] || [ $rc = 3 ] || { cat check.log; fail "lz.qcow2: qemu-img check exit $rc"; }
same lz.qcow2 src.raw
cp src.raw m.raw; tool lz.qcow2 w 1999000 d4; mw 1999000 d4 m.raw
same lz.qcow2 m.raw

step "long writes into fresh space with tiny refcount blocks (512-byte clusters, 64-bit refcounts)"
# each refcount block covers only 64 clusters: a long write is allocated in
# runs that fit between the blocks that the new space needs
rm -f tiny.qcow2; qemu-img create -q -f qcow2 -o cluster_size=512,refcount_bits=64 tiny.qcow2 4M
truncate -s 0 m.raw; truncate -s 4M m.raw
tool tiny.qcow2 w 0 d3 w 2000000 d1
mw 0 d3 m.raw; mw 2000000 d1 m.raw
qcheck tiny.qcow2; same tiny.qcow2 m.raw

step "resize grows the L1 table"
rm -f r.qcow2; tool create r.qcow2 1M 9
tool r.qcow2 w 1000 d2 resize 64M w 60M d4 check
truncate -s 0 m.raw; truncate -s 64M m.raw; mw 1000 d2 m.raw; mw 62914560 d4 m.raw
qcheck r.qcow2; same r.qcow2 m.raw
qemu-img info r.qcow2 | grep -q "virtual size: 64 MiB" || fail "resize: size"

step "all passed"
