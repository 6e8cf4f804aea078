#!/bin/sh
# `hutch img` end to end, with qemu-img and qemu-io as the independent judges:
# what hutch writes must pass `qemu-img check` and read back equal under
# `qemu-img compare`; what qemu writes, hutch must read. Skips (77) without them.
set -eu

HUTCH=${HUTCH:?HUTCH must name the hutch binary}
for tool in qemu-img qemu-io python3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $tool not installed"
		exit 77
	fi
done

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# run WANT_RC CMD...: runs CMD with stdout in out, stderr in err; checks the exit code.
run() {
	want=$1
	shift
	set +e
	"$@" >out 2>err
	rc=$?
	set -e
	[ "$rc" -eq "$want" ] || fail "'$*' exited $rc, wanted $want; stderr: $(cat err)"
}

# One error line "hutch: img: ..." and nothing else: how hostile input must end.
one_error_line() {
	[ "$(wc -l <err)" -eq 1 ] || fail "$1: stderr is not one line: $(cat err)"
	grep -q '^hutch: img: ' err || fail "$1: stderr lacks 'hutch: img: ': $(cat err)"
}

# json_field FILE KEY: a top-level member of qemu-img info --output=json.
json_field() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' "$1" "$2"
}

qinfo() {
	qemu-img info --output=json "$1" >qinfo.json
}

# A raw disk with data at scattered offsets, zeros (holes) between, and an odd tail.
python3 - <<'EOF'
import random
rnd = random.Random(7)
size = 8 << 20
with open('src.raw', 'wb') as f:
    f.truncate(size)
    for off in (0, 65536 + 512, 1 << 20, (3 << 20) + 4096, size - 70000):
        f.seek(off)
        f.write(bytes(rnd.randrange(256) for _ in range(50000)))
    # compressible: text-like runs
    f.seek(5 << 20)
    f.write(b'hutch compresses this cluster well. ' * 4000)
EOF

# --- help and bad arguments ---
for c in create info check convert resize commit; do
	run 0 "$HUTCH" img "$c" --help
	grep -q "hutch img $c" out || fail "$c --help lacks an example"
done
run 0 "$HUTCH" img --help
run 2 "$HUTCH" img
run 2 "$HUTCH" img frobnicate
one_error_line "unknown command"
run 2 "$HUTCH" img create x.qcow2
one_error_line "create without SIZE"
run 2 "$HUTCH" img create x.qcow2 12Q
one_error_line "bad size"
[ ! -e x.qcow2 ] || fail "a refused create left x.qcow2"

# --- create ---
run 0 "$HUTCH" img create base.qcow2 8M
qemu-img check -q base.qcow2 || fail "qemu-img check base.qcow2"
qinfo base.qcow2
[ "$(json_field qinfo.json virtual-size)" = 8388608 ] || fail "base.qcow2 size"
[ "$(json_field qinfo.json format)" = qcow2 ] || fail "base.qcow2 format"
run 2 "$HUTCH" img create base.qcow2 8M
one_error_line "create over an existing file"
grep -q exists err || fail "create over an existing file: $(cat err)"

run 0 "$HUTCH" img create -c 4K small-clusters.qcow2 1G
qinfo small-clusters.qcow2
[ "$(json_field qinfo.json cluster-size)" = 4096 ] || fail "-c 4K"
qemu-img check -q small-clusters.qcow2 || fail "qemu-img check small-clusters.qcow2"

run 0 "$HUTCH" img create -f raw plain.img 3M
[ "$(stat -c %s plain.img)" = 3145728 ] || fail "raw create size"

run 0 "$HUTCH" img create -b base.qcow2 -F qcow2 over.qcow2
qemu-img check -q over.qcow2 || fail "qemu-img check over.qcow2"
qinfo over.qcow2
[ "$(json_field qinfo.json backing-filename)" = base.qcow2 ] || fail "overlay backing"
[ "$(json_field qinfo.json backing-filename-format)" = qcow2 ] || fail "overlay backing fmt"
[ "$(json_field qinfo.json virtual-size)" = 8388608 ] || fail "overlay takes its base's size"

# --- info ---
run 0 "$HUTCH" img info --json over.qcow2
python3 -m json.tool out >/dev/null || fail "info --json is not JSON: $(cat out)"
[ "$(json_field out virtual-size)" = 8388608 ] || fail "info --json virtual-size"
[ "$(json_field out backing-filename)" = base.qcow2 ] || fail "info --json backing"
run 0 "$HUTCH" img info --json --backing-chain over.qcow2
python3 -c 'import json,sys; c=json.load(open("out")); assert len(c) == 2 and c[1]["filename"].endswith("base.qcow2"), c' ||
	fail "info --backing-chain: $(cat out)"
run 0 "$HUTCH" img info over.qcow2
grep -q '^virtual size: 8 MiB (8388608 bytes)$' out || fail "info text: $(cat out)"
grep -q '^backing file: base.qcow2' out || fail "info text backing: $(cat out)"
# info and check describe the overlay alone: its base may be elsewhere now
mv base.qcow2 base.away
run 0 "$HUTCH" img info over.qcow2
grep -q '^backing file: base.qcow2' out || fail "info without the base: $(cat out)"
run 0 "$HUTCH" img check over.qcow2
run 2 "$HUTCH" img info --backing-chain over.qcow2
one_error_line "info --backing-chain without the base"
grep -q 'base.qcow2' err || fail "the missing base is not named: $(cat err)"
mv base.away base.qcow2

# --- convert: qemu's image in, hutch's out, both ways ---
qemu-img convert -f raw -O qcow2 src.raw ref.qcow2
run 0 "$HUTCH" img convert -O raw ref.qcow2 out.raw
[ ! -s err ] || fail "convert printed a progress bar without a terminal: $(cat err)"
qemu-img compare -q src.raw out.raw || fail "convert qcow2 -> raw differs"
run 0 "$HUTCH" img convert -p src.raw out.qcow2
grep -q '100.0%' err || fail "convert -p drew no bar: $(cat err)"
[ "$(tail -c 1 err | od -An -c | tr -d ' ')" = '\n' ] || fail "the bar does not end its line"
qemu-img check -q out.qcow2 || fail "qemu-img check out.qcow2"
qemu-img compare -q src.raw out.qcow2 || fail "convert raw -> qcow2 differs"
# holes stay holes: far less than the 8 MiB virtual size is allocated
qinfo out.qcow2
[ "$(json_field qinfo.json actual-size)" -lt 4194304 ] || fail "convert filled the holes"
run 2 "$HUTCH" img convert src.raw out.qcow2
one_error_line "convert over an existing file"

run 0 "$HUTCH" img convert -c ref.qcow2 comp.qcow2
qemu-img check comp.qcow2 >check.txt || fail "qemu-img check comp.qcow2: $(cat check.txt)"
grep -q ' 0.00% compressed' check.txt && fail "convert -c compressed nothing: $(cat check.txt)"
qemu-img compare -q src.raw comp.qcow2 || fail "convert -c differs"

# an odd-sized raw disk rounds up to 512 bytes as qcow2, the tail reading as zeros
head -c 1000 src.raw >odd.raw
run 0 "$HUTCH" img convert odd.raw odd.qcow2
qemu-img compare -q odd.raw odd.qcow2 || fail "odd-sized convert differs"

# --- an overlay written by qemu-io: convert flattens it, commit merges it ---
qemu-img convert -f raw -O qcow2 src.raw chain-base.qcow2
run 0 "$HUTCH" img create -b chain-base.qcow2 -F qcow2 chain-top.qcow2
qemu-io -f qcow2 -c 'write -P 0xab 1M 64k' -c 'write -P 0x5c 7340032 4096' \
	-c 'write -z 0 65536' chain-top.qcow2 >/dev/null
python3 - <<'EOF'
data = bytearray(open('src.raw', 'rb').read())
data[1 << 20:(1 << 20) + 65536] = b'\xab' * 65536
data[7340032:7340032 + 4096] = b'\x5c' * 4096
data[0:65536] = bytes(65536)
open('expected.raw', 'wb').write(data)
EOF
qemu-img compare -q expected.raw chain-top.qcow2 || fail "test setup: qemu-io wrote something else"
run 0 "$HUTCH" img convert -O raw chain-top.qcow2 flat.raw
qemu-img compare -q expected.raw flat.raw || fail "convert of an overlay differs"
run 0 "$HUTCH" img commit chain-top.qcow2
grep -q 'committed' out || fail "commit says nothing: $(cat out)"
qemu-img check -q chain-base.qcow2 || fail "qemu-img check after commit"
qemu-img compare -q expected.raw chain-base.qcow2 || fail "commit: the base differs"
run 2 "$HUTCH" img commit base.qcow2
one_error_line "commit without a backing file"

# --- check: a leak injected into a qemu-made image ---
qemu-img create -q -f qcow2 leak.qcow2 4M
qemu-io -f qcow2 -c 'write -P 1 0 128k' leak.qcow2 >/dev/null
python3 - <<'EOF'
import struct
with open('leak.qcow2', 'r+b') as f:
    h = f.read(104)
    cs = 1 << struct.unpack('>I', h[20:24])[0]
    assert struct.unpack('>I', h[96:100])[0] == 4, 'refcount_order 4 (16-bit) expected'
    rt = struct.unpack('>Q', h[48:56])[0]
    f.seek(0, 2)
    n = (f.tell() + cs - 1) // cs  # the first cluster past the end: used by nothing
    f.truncate((n + 1) * cs)
    f.seek(rt)
    rb = struct.unpack('>Q', f.read(8))[0]
    f.seek(rb + 2 * n)
    f.write(struct.pack('>H', 1))
EOF
set +e
qemu-img check -q leak.qcow2 >/dev/null 2>&1
rc=$?
set -e
[ "$rc" -eq 3 ] || fail "test setup: qemu-img check sees no leak (rc $rc)"
run 3 "$HUTCH" img check leak.qcow2
grep -q '^1 leaked clusters were found' out || fail "check missed the leak: $(cat out)"
run 0 "$HUTCH" img check -r leak.qcow2
grep -q 'No errors were found' out || fail "check -r: $(cat out)"
qemu-img check -q leak.qcow2 || fail "qemu-img check after check -r"
run 0 "$HUTCH" img check out.qcow2
grep -q '^No errors were found on the image.$' out || fail "check clean: $(cat out)"
run 63 "$HUTCH" img check plain.img

# --- resize ---
cp base.qcow2 grow.qcow2
run 0 "$HUTCH" img resize grow.qcow2 +1M
qinfo grow.qcow2
[ "$(json_field qinfo.json virtual-size)" = 9437184 ] || fail "resize +1M"
qemu-img check -q grow.qcow2 || fail "qemu-img check after resize"
run 0 "$HUTCH" img resize grow.qcow2 64M
qinfo grow.qcow2
[ "$(json_field qinfo.json virtual-size)" = 67108864 ] || fail "resize 64M"
run 2 "$HUTCH" img resize grow.qcow2 1M
one_error_line "qcow2 shrink"
run 2 "$HUTCH" img resize plain.img -1M
one_error_line "raw shrink without --shrink"
run 0 "$HUTCH" img resize --shrink plain.img -1M
[ "$(stat -c %s plain.img)" = 2097152 ] || fail "raw shrink"

# --- hostile inputs: one line, exit 2, never a crash ---
printf 'QFI\373\0\0\0\003garbage' >truncated.qcow2
python3 -c '
import struct
h = bytearray(b"QFI\xfb" + struct.pack(">I", 3) + bytes(96))
h[20:24] = struct.pack(">I", 40)          # cluster_bits far out of range
h[24:32] = struct.pack(">Q", 1 << 62)     # size
open("hostile.qcow2", "wb").write(h + bytes(4096))'
mkdir adir
for f in truncated.qcow2 hostile.qcow2 adir missing.qcow2; do
	for c in info check convert resize commit; do
		case $c in
		convert) set -- "$f" "conv-$c.out" ;;
		resize) set -- "$f" +1M ;;
		*) set -- "$f" ;;
		esac
		set +e
		"$HUTCH" img "$c" "$@" >out 2>err
		rc=$?
		set -e
		[ "$rc" -eq 2 ] || fail "img $c $f exited $rc, wanted 2: $(cat err)"
		one_error_line "img $c $f"
	done
done
[ ! -e conv-convert.out ] || fail "a refused convert left its output"

echo "img_cli: all passed"
