# shellcheck shell=bash disable=SC2012,SC2034
# (SC2012: ls on our own cache's names; SC2034: globals are for the callers)
# guests/lib.sh: helpers shared by guests/mkguest and tests/kvmhost/run.
#
# Source it from bash with `set -euo pipefail` in effect. It fetches Debian's
# generic kernel package (nothing is installed, the .deb is only unpacked into
# a cache), extracts the ELF vmlinux from its bzImage, resolves kernel module
# dependencies and packs busybox-based initramfs images, into which it can
# also copy dynamically linked host binaries with their shared libraries.
#
# Environment:
#   HUTCH_CACHE       cache directory (default: $HOME/.cache/hutch)
#   HUTCH_KERNEL_PKG  kernel meta package to resolve (default: linux-image-amd64)
#   HUTCH_BUSYBOX     static busybox binary to use (default: /bin/busybox)
#
# After hutch_kernel_fetch, these globals describe the kernel:
#   HUTCH_KERNEL_ID   "<package>_<version>", unique per kernel build
#   HUTCH_KERNEL_REL  the kernel release (uname -r), e.g. 6.1.0-56-amd64
#   HUTCH_KERNEL_DIR  cache directory holding vmlinuz, vmlinux and lib/modules
#   HUTCH_VMLINUZ     the bzImage
#   HUTCH_VMLINUX     the uncompressed ELF vmlinux (PVH-bootable)
#   HUTCH_MODDIR      .../lib/modules/$HUTCH_KERNEL_REL

HUTCH_CACHE=${HUTCH_CACHE:-$HOME/.cache/hutch}
HUTCH_KERNEL_PKG=${HUTCH_KERNEL_PKG:-linux-image-amd64}
HUTCH_BUSYBOX=${HUTCH_BUSYBOX:-/bin/busybox}

# Prefix for messages; callers may set it before sourcing.
: "${HUTCH_LOG_TAG:=hutch}"

hutch_log() { printf '%s: %s\n' "$HUTCH_LOG_TAG" "$*" >&2; }
hutch_die() { hutch_log "error: $*"; exit 1; }

# ---------------------------------------------------------------------------
# Kernel package
# ---------------------------------------------------------------------------

# Print "<package> <version>" of the versioned kernel package that the meta
# package depends on (what `apt-cache depends` names), using only the local
# apt lists, so it works offline. One apt-cache call when the dependency is
# versioned, as Debian's is: "Depends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)".
hutch_kernel_resolve() {
    local pkg ver
    read -r pkg ver < <(apt-cache show --no-all-versions "$HUTCH_KERNEL_PKG" 2>/dev/null |
        sed -n 's/^Depends:.*\b\(linux-image-[^ ,]*\)\( (= \([^)]*\))\)\?.*/\1 \3/p' |
        head -n1) || true
    [[ -n ${pkg:-} ]] || return 1
    if [[ -z ${ver:-} ]]; then
        ver=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null |
              awk '$1 == "Version:" { print $2; exit }') || true
        [[ -n $ver ]] || return 1
    fi
    printf '%s %s\n' "$pkg" "$ver"
}

# Newest kernel already unpacked in the cache (fallback when apt cannot
# resolve, e.g. without apt lists). Prints its ID or fails.
hutch_kernel_newest_cached() {
    local d
    d=$(ls -1dt "$HUTCH_CACHE"/kernel/*/.unpacked 2>/dev/null | head -n1) || true
    [[ -n $d ]] || return 1
    d=${d%/.unpacked}
    printf '%s\n' "${d##*/}"
}

# Download the .deb into the cache unless it is there already. Prints its path.
hutch_kernel_download() {
    local pkg=$1 ver=$2 debdir=$HUTCH_CACHE/debs deb
    mkdir -p "$debdir"
    # apt-get download names files <pkg>_<version with ':' as %3a>_<arch>.deb
    deb=$(ls -1 "$debdir/${pkg}_${ver//:/%3a}_"*.deb 2>/dev/null | head -n1) || true
    if [[ -z $deb ]]; then
        hutch_log "downloading $pkg $ver"
        (cd "$debdir" && apt-get -qq -o APT::Sandbox::User="$(id -un)" \
            download "$pkg=$ver") >&2 || hutch_die "apt-get download $pkg=$ver failed"
        deb=$(ls -1 "$debdir/${pkg}_${ver//:/%3a}_"*.deb | head -n1)
    fi
    printf '%s\n' "$deb"
}

# Unpack a kernel .deb into $HUTCH_CACHE/kernel/ID (once).
hutch_kernel_unpack() {
    local deb=$1 dir=$2 tmp
    [[ -e $dir/.unpacked ]] && return 0
    hutch_log "unpacking ${deb##*/}"
    tmp=$(mktemp -d "$HUTCH_CACHE/kernel/.unpack.XXXXXX")
    dpkg -x "$deb" "$tmp"
    rm -rf "$dir"
    mv -T "$tmp" "$dir"
    touch "$dir/.unpacked"
}

# Set the HUTCH_KERNEL_* globals for an unpacked kernel directory, and extract
# vmlinux next to the bzImage if that was not done yet.
hutch_kernel_describe() {
    local dir=$1 vmlinuz
    HUTCH_KERNEL_DIR=$dir
    HUTCH_KERNEL_ID=${dir##*/}
    vmlinuz=$(ls -1 "$dir"/boot/vmlinuz-* 2>/dev/null | head -n1) || true
    [[ -n $vmlinuz ]] || hutch_die "no boot/vmlinuz-* in $dir"
    HUTCH_VMLINUZ=$vmlinuz
    HUTCH_KERNEL_REL=${vmlinuz##*/vmlinuz-}
    HUTCH_MODDIR=$dir/lib/modules/$HUTCH_KERNEL_REL
    [[ -d $HUTCH_MODDIR ]] || hutch_die "no modules in $HUTCH_MODDIR"
    HUTCH_VMLINUX=$dir/vmlinux
    [[ -s $HUTCH_VMLINUX ]] || hutch_extract_vmlinux "$HUTCH_VMLINUZ" "$HUTCH_VMLINUX"
}

# Hold an exclusive lock on FILE until the calling shell exits or calls
# hutch_unlock (serialises concurrent builds into the shared cache).
hutch_lock() {
    exec {HUTCH_LOCK_FD}>"$1"
    flock "$HUTCH_LOCK_FD"
}
hutch_unlock() { exec {HUTCH_LOCK_FD}>&-; }

# Make sure the kernel is downloaded and unpacked; set the HUTCH_KERNEL_* vars.
hutch_kernel_fetch() {
    local pv pkg ver id deb
    mkdir -p "$HUTCH_CACHE/kernel"
    hutch_lock "$HUTCH_CACHE/kernel/.lock"
    if pv=$(hutch_kernel_resolve); then
        read -r pkg ver <<<"$pv"
        id=${pkg}_${ver//:/%3a}
        if [[ ! -e $HUTCH_CACHE/kernel/$id/.unpacked ]]; then
            deb=$(hutch_kernel_download "$pkg" "$ver")
            hutch_kernel_unpack "$deb" "$HUTCH_CACHE/kernel/$id"
        fi
    elif id=$(hutch_kernel_newest_cached); then
        hutch_log "apt cannot resolve $HUTCH_KERNEL_PKG; using cached $id"
    else
        hutch_die "cannot resolve $HUTCH_KERNEL_PKG with apt-cache (run apt-get update?) and no kernel is cached in $HUTCH_CACHE"
    fi
    hutch_kernel_describe "$HUTCH_CACHE/kernel/$id"
    hutch_unlock
}

# Extract the ELF vmlinux from an xz-compressed bzImage: decompress from the
# first xz stream magic (FD 37 7A 58 5A 00) that yields an ELF file.
hutch_extract_vmlinux() {
    local bz=$1 out=$2 off _ tmp
    tmp=$(mktemp "$out.XXXXXX")
    while IFS=: read -r off _; do
        tail -c +"$((off + 1))" "$bz" | xz -dc --single-stream >"$tmp" 2>/dev/null || true
        if [[ $(head -c 4 "$tmp" | od -An -tx1 | tr -d ' \n') == 7f454c46 ]]; then
            mv -f "$tmp" "$out"
            return 0
        fi
    done < <(LC_ALL=C grep -obUaP '\xFD7zXZ\x00' "$bz")
    rm -f "$tmp"
    hutch_die "no xz-compressed ELF found in $bz"
}

# ---------------------------------------------------------------------------
# Kernel modules
# ---------------------------------------------------------------------------

declare -gA HUTCH_MOD_PATH=()    # module name (with '_') -> .ko file
declare -gA HUTCH_MOD_BUILTIN=() # module name (with '_') -> 1 if built in
declare -gA HUTCH_MOD_SEEN=()
HUTCH_MOD_ORDER=()   # resolved load order (module names)
HUTCH_MOD_MISSING=() # requested but neither a module nor built in
HUTCH_MOD_INKERNEL=() # requested but built into the kernel

# Module names treat '-' and '_' alike; normalise to '_'.
hutch_mod_norm() { local n=${1##*/}; n=${n%%.ko*}; printf '%s' "${n//-/_}"; }

# Index all modules of $HUTCH_MODDIR and the list of built-in ones.
hutch_mod_index() {
    local f n
    HUTCH_MOD_PATH=() HUTCH_MOD_BUILTIN=()
    while IFS= read -r -d '' f; do
        n=${f##*/}; n=${n%%.ko*}
        HUTCH_MOD_PATH[${n//-/_}]=$f
    done < <(find "$HUTCH_MODDIR/kernel" -name '*.ko*' -print0)
    if [[ -r $HUTCH_MODDIR/modules.builtin ]]; then
        while IFS= read -r f; do
            n=${f##*/}; n=${n%%.ko*}
            HUTCH_MOD_BUILTIN[${n//-/_}]=1
        done <"$HUTCH_MODDIR/modules.builtin"
    fi
}

# Print a module's contents, decompressing .ko.xz/.ko.zst/.ko.gz.
hutch_mod_cat() {
    case $1 in
        *.xz)  xz -dc "$1" ;;
        *.zst) zstd -qdc "$1" ;;
        *.gz)  gzip -dc "$1" ;;
        *)     cat "$1" ;;
    esac
}

# Print the comma-separated "depends=" list from a module's .modinfo.
hutch_mod_deps() {
    hutch_mod_cat "$1" | tr '\0' '\n' | LC_ALL=C grep -a -m1 '^depends=' |
        cut -d= -f2- || true
}

# Depth-first visit: dependencies are appended to HUTCH_MOD_ORDER first.
hutch_mod_visit() {
    local n d deps
    n=$(hutch_mod_norm "$1")
    [[ -n ${HUTCH_MOD_SEEN[$n]:-} ]] && return 0
    HUTCH_MOD_SEEN[$n]=1
    if [[ -z ${HUTCH_MOD_PATH[$n]:-} ]]; then
        if [[ -n ${HUTCH_MOD_BUILTIN[$n]:-} ]]; then
            HUTCH_MOD_INKERNEL+=("$n")
        else
            HUTCH_MOD_MISSING+=("$n")
        fi
        return 0
    fi
    deps=$(hutch_mod_deps "${HUTCH_MOD_PATH[$n]}")
    for d in ${deps//,/ }; do
        hutch_mod_visit "$d"
    done
    HUTCH_MOD_ORDER+=("$n")
}

# Resolve the given module names (plus dependencies) into HUTCH_MOD_ORDER.
hutch_mod_resolve() {
    local m
    HUTCH_MOD_SEEN=() HUTCH_MOD_ORDER=() HUTCH_MOD_MISSING=() HUTCH_MOD_INKERNEL=()
    [[ ${#HUTCH_MOD_PATH[@]} -gt 0 ]] || hutch_mod_index
    for m in "$@"; do
        hutch_mod_visit "$m"
    done
    if ((${#HUTCH_MOD_INKERNEL[@]})); then
        hutch_log "built into the kernel (not copied): ${HUTCH_MOD_INKERNEL[*]}"
    fi
    if ((${#HUTCH_MOD_MISSING[@]})); then
        hutch_log "warning: not in kernel $HUTCH_KERNEL_REL (skipped): ${HUTCH_MOD_MISSING[*]}"
    fi
}

# Copy the resolved modules flat into ROOT/lib/modules as NAME.ko and write
# ROOT/lib/modules/load-order (one file name per line, in load order).
hutch_mod_install() {
    local root=$1 n dir=$1/lib/modules
    mkdir -p "$dir"
    : >"$dir/load-order"
    for n in "${HUTCH_MOD_ORDER[@]}"; do
        hutch_mod_cat "${HUTCH_MOD_PATH[$n]}" >"$dir/$n.ko"
        printf '%s.ko\n' "$n" >>"$dir/load-order"
    done
}

# ---------------------------------------------------------------------------
# Initramfs
# ---------------------------------------------------------------------------

# Read an unsigned little-endian integer: FILE OFFSET SIZE(1,2,4,8).
hutch_read_uint() {
    od -An -t "u$3" -j "$2" -N "$3" "$1" | tr -d ' \n'
}

# Succeed if the 64-bit ELF FILE has no PT_INTERP (i.e. is statically linked).
hutch_elf_is_static() {
    local f=$1 phoff phentsize phnum i
    phoff=$(hutch_read_uint "$f" 32 8)
    phentsize=$(hutch_read_uint "$f" 54 2)
    phnum=$(hutch_read_uint "$f" 56 2)
    for ((i = 0; i < phnum; i++)); do
        [[ $(hutch_read_uint "$f" $((phoff + i * phentsize)) 4) != 3 ]] || return 1
    done
}

# Check that $HUTCH_BUSYBOX exists and is statically linked.
hutch_busybox_check() {
    [[ -x $HUTCH_BUSYBOX ]] ||
        hutch_die "$HUTCH_BUSYBOX not found (apt-get install busybox-static)"
    hutch_elf_is_static "$HUTCH_BUSYBOX" ||
        hutch_die "$HUTCH_BUSYBOX is dynamically linked (apt-get install busybox-static)"
}

# Populate ROOT with busybox, a link per applet in /bin, and the usual dirs.
hutch_busybox_install() {
    local root=$1 applet
    hutch_busybox_check
    mkdir -p "$root"/{bin,dev,proc,sys,tmp,run,root,etc,mnt,usr,lib}
    chmod 1777 "$root/tmp"
    cp "$HUTCH_BUSYBOX" "$root/bin/busybox"
    for applet in $("$HUTCH_BUSYBOX" --list); do
        [[ $applet == busybox ]] || ln -sf busybox "$root/bin/$applet"
    done
    ln -sfn bin "$root/sbin"
    ln -sfn ../bin "$root/usr/bin"
    ln -sfn ../bin "$root/usr/sbin"
}

# ---------------------------------------------------------------------------
# Dynamically linked host binaries
# ---------------------------------------------------------------------------

# Print the shared-library closure of the ELF FILEs, as ldd resolves it on
# this machine: one absolute path per line (the ELF interpreter, e.g.
# /lib64/ld-linux-x86-64.so.2, included; the vDSO not), sorted, no duplicates.
# Statically linked FILEs contribute nothing. Dies if a library is missing.
hutch_elf_closure() {
    local f out line
    for f in "$@"; do
        [[ -f $f ]] || hutch_die "$f: no such file"
        hutch_elf_is_static "$f" && continue
        out=$(LC_ALL=C ldd "$f" 2>&1) || hutch_die "ldd $f failed: $out"
        while IFS= read -r line; do
            line=${line#"${line%%[![:space:]]*}"} # strip leading blanks
            case $line in
                *'=> not found'*) hutch_die "$f: ${line%% *} not found (ldd)" ;;
                *' => /'*) line=${line#* => } ;;
                /*) ;;
                *) continue ;; # linux-vdso.so.1, statically linked, ...
            esac
            printf '%s\n' "${line%% (0x*}"
        done <<<"$out"
    done | LC_ALL=C sort -u
}

# Copy file SRC to ROOT/DST: the contents (symlinks followed), mode 755 for
# executables and shared objects alike. Anything already at DST (e.g. a
# busybox applet link, which cp would follow) is removed first.
hutch_root_copy() {
    local src=$1 dst=$2/${3#/}
    mkdir -p "${dst%/*}"
    rm -f "$dst"
    cp -L "$src" "$dst"
    chmod 755 "$dst"
}

# hutch_bin_install ROOT SRC [NAME]: copy the host binary SRC into ROOT as
# /bin/NAME (default: SRC's base name) together with its shared-library
# closure (hutch_elf_closure), each library at the path ldd names, e.g.
# /lib/x86_64-linux-gnu/libc.so.6 and /lib64/ld-linux-x86-64.so.2. The
# glibc dynamic loader searches /lib/x86_64-linux-gnu without an ld.so.cache,
# and the interpreter path is the one written into the binary, so the copy
# runs in the guest as it does here.
hutch_bin_install() {
    local root=$1 src=$2 name=${3:-${2##*/}} libs lib
    [[ -x $src ]] || hutch_die "$src: not an executable"
    libs=$(hutch_elf_closure "$src")
    hutch_root_copy "$src" "$root" "/bin/$name"
    for lib in $libs; do
        hutch_root_copy "$lib" "$root" "$lib"
    done
}

# Print the host binary that `command -v` finds for NAME (also looking in
# the sbin directories, which a non-root PATH lacks), or die naming PACKAGE.
hutch_host_bin() {
    local name=$1 pkg=${2:-$1} p
    p=$(PATH=$PATH:/usr/sbin:/sbin command -v "$name") ||
        hutch_die "$name not found on this machine (apt-get install $pkg)"
    readlink -f "$p"
}

# ---------------------------------------------------------------------------
# Initramfs packing
# ---------------------------------------------------------------------------

# Pack directory ROOT into a gzip-compressed newc cpio archive OUT (atomically).
hutch_cpio_pack() {
    local root=$1 out=$2 tmp
    tmp=$(mktemp "$out.XXXXXX")
    (cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
        cpio --quiet -o -H newc -R 0:0) | gzip -n -6 >"$tmp"
    chmod 644 "$tmp"
    mv -f "$tmp" "$out"
}

# Print one hash over the arguments: an argument naming a file stands for its
# contents, any other argument for itself (e.g. a version or a module list).
hutch_inputs_hash() {
    local a
    {
        for a in "$@"; do
            if [[ -f $a ]]; then sha256sum <"$a"; else printf '%s\n' "$a"; fi
        done
    } | sha256sum | cut -d' ' -f1
}
