#!/bin/sh
# shellcheck shell=dash
# Guest side of the display tests (tests/integration/display*.sh), added to
# the test guest as /bin/hutch-display:
#
#   hutch-display draw        waits for /dev/fb0 (virtio-gpu's fbdev), stops
#                             the text console drawing on it, fills it with the
#                             test pattern (tests/integration/image.py: four
#                             bands, each with a left and a right colour) and
#                             prints PATTERN-DRAWN WxH
#   hutch-display keys N      records the virtio keyboard's events, prints
#                             KEYS-READY, waits until N events arrived (60 s at
#                             most) and prints them base64-encoded between
#                             KEYS-BEGIN and KEYS-END
set -u

wait_for() {
    i=0
    while [ ! -e "$1" ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i + 1)); done
    [ -e "$1" ]
}

# repeat IN BYTES OUT: OUT is IN's content repeated to exactly BYTES bytes.
repeat() {
    cp "$1" "$3.t"
    while [ "$(wc -c <"$3.t")" -lt "$2" ]; do cat "$3.t" "$3.t" >"$3.u"; mv "$3.u" "$3.t"; done
    head -c "$2" "$3.t" >"$3"
    rm -f "$3.t"
}

# pixel RRGGBB OUT: one pixel as fbdev's XRGB8888 stores it (bytes B, G, R, X).
pixel() {
    gb=${1#??}
    r=$(printf %03o "0x${1%????}") g=$(printf %03o "0x${gb%??}") b=$(printf %03o "0x${1#????}")
    printf "\\$b\\$g\\$r\\000" >"$2"
}

draw() {
    wait_for /dev/fb0 || { echo "NO-FB0"; exit 1; }
    for v in /sys/class/vtconsole/vtcon*; do
        grep -q "frame buffer" "$v/name" && echo 0 >"$v/bind"
    done
    size=$(cat /sys/class/graphics/fb0/virtual_size)
    stride=$(cat /sys/class/graphics/fb0/stride)
    w=${size%,*} h=${size#*,}
    [ "$stride" = $((w * 4)) ] || { echo "STRIDE $stride for width $w"; exit 1; }
    cd /tmp || exit 1
    bh=$((h / 4)) lw=$((w / 2))
    n=0
    for colours in ff0000:00ff00 0000ff:ffffff ffff00:00ffff ff00ff:808080; do
        pixel "${colours%:*}" l.px
        pixel "${colours#*:}" r.px
        repeat l.px $((lw * 4)) l.row
        repeat r.px $(((w - lw) * 4)) r.row
        cat l.row r.row >row
        rows=$bh
        [ $n = 3 ] && rows=$((h - 3 * bh))
        repeat row $((rows * w * 4)) band$n
        n=$((n + 1))
    done
    cat band0 band1 band2 band3 >/dev/fb0
    rm -f band? row ?.row ?.px
    echo "PATTERN-DRAWN ${w}x${h}"
}

keys() {
    for e in /sys/class/input/event*; do
        [ "$(cat "$e/device/name" 2>/dev/null)" = "hutch keyboard" ] && ev=${e##*/}
    done
    [ -n "${ev:-}" ] || { echo "NO-KEYBOARD"; exit 1; }
    : >/tmp/keys # (before the reader runs: the loop below reads it at once)
    cat "/dev/input/$ev" >/tmp/keys &
    # ready once the reader holds the device open: events before that are lost
    i=0
    while ! ls -l "/proc/$!/fd" 2>/dev/null | grep -q "/dev/input/$ev" && [ $i -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    echo "KEYS-READY $ev"
    i=0
    while [ "$(wc -c </tmp/keys)" -lt $(($1 * 24)) ] && [ $i -lt 300 ]; do
        sleep 0.2
        i=$((i + 1))
    done
    kill $! 2>/dev/null
    echo "KEYS-BEGIN"
    base64 </tmp/keys
    echo "KEYS-END"
}

"$@"
