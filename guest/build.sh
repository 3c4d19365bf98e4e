#!/bin/bash
# guest/build.sh OUTDIR — build Berth's test guest from Debian packages plus guest/*.
#
# Produces
#   OUTDIR/vmlinuz     the kernel of Debian's linux-image-cloud-amd64 (its current dependency)
#   OUTDIR/initrd.img  gzip'd newc initramfs: busybox (busybox-static), the modules for
#                      virtio-blk over PCI and pvpanic (decompressed, load order in
#                      /lib/modules/load.order), those of the ACPI power button and evdev
#                      (/lib/modules/acpi.order, loaded by the acpi workload only),
#                      guest/init as /init and guest/workload.c + memload.c built as
#                      /bin/berth-workload
# Packages are fetched with `apt-get download` into OUTDIR/debs (kept: delete it to pick up
# a newer kernel) and unpacked with `dpkg-deb -x` under OUTDIR/work; nothing is installed on
# the host. When the outputs are newer than every file in guest/ and OUTDIR/debs, nothing
# is rebuilt.
# Prints one summary line on success; on failure an error (and the log tail) on stderr.
set -eu

GUEST_DIR=$(cd "$(dirname "$0")" && pwd)
KERNEL_META=linux-image-cloud-amd64
# Modules /init needs; each may also be built into the kernel.
WANT_MODULES="virtio_pci virtio_blk pvpanic_pci pvpanic_mmio"
# Modules /init loads only for the acpi workload: the ACPI power button driver (it reports
# KEY_POWER through an input device) and evdev (/dev/input/event*). No other workload loads
# them, so those guests ignore QMP system_powerdown.
ACPI_MODULES="button evdev"
# Busybox applets /init (and someone debugging the guest) uses.
APPLETS="sh mount umount cat echo test [ insmod usleep sleep ls mkdir dmesg"

die() {
    echo "guest/build.sh: error: $*" >&2
    if [ -n "${LOG:-}" ] && [ -s "$LOG" ]; then
        echo "--- last lines of $LOG:" >&2
        tail -n 20 "$LOG" >&2
    fi
    exit 1
}

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
mkdir -p "$1" || die "cannot create $1"
OUT=$(cd "$1" && pwd)
DEBS=$OUT/debs
WORK=$OUT/work
LOG=$OUT/build.log

# One build at a time per OUTDIR.
exec 9>"$OUT/.lock"
flock 9

up_to_date() {
    local f
    [ -d "$DEBS" ] || return 1
    for f in "$OUT/vmlinuz" "$OUT/initrd.img"; do
        [ -f "$f" ] || return 1
        [ -z "$(find "$GUEST_DIR" "$DEBS" -newer "$f" -print -quit 2>/dev/null)" ] || return 1
    done
}
if up_to_date; then
    echo "guest: up to date in $OUT"
    exit 0
fi
: >"$LOG"

# Run a command with its output in the log; die if it fails.
run() {
    "$@" >>"$LOG" 2>&1 || die "command failed: $*"
}

newest_deb() { # glob pattern inside $DEBS
    local f
    f=$(cd "$DEBS" && ls -1 $1 2>/dev/null | sort -V | tail -n 1) || true
    [ -n "$f" ] && echo "$DEBS/$f"
}

# --- 1. packages (cached in OUTDIR/debs) -------------------------------------------------
mkdir -p "$DEBS"
kernel_deb=$(newest_deb 'linux-image-*-cloud-amd64_*_amd64.deb') || true
busybox_deb=$(newest_deb 'busybox-static_*_amd64.deb') || true
if [ -z "$kernel_deb" ] || [ -z "$busybox_deb" ]; then
    resolve_kernel() {
        apt-cache depends "$KERNEL_META" 2>>"$LOG" |
            sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n 1
    }
    kernel_pkg=$(resolve_kernel)
    if [ -z "$kernel_pkg" ] && [ "$(id -u)" -eq 0 ]; then
        run apt-get update -qq
        kernel_pkg=$(resolve_kernel)
    fi
    [ -n "$kernel_pkg" ] || die "cannot resolve $KERNEL_META with apt-cache (run apt-get update?)"
    rm -rf "$DEBS/.partial"
    mkdir -p "$DEBS/.partial"
    (cd "$DEBS/.partial" && apt-get download -qq -o APT::Sandbox::User=root \
        "$kernel_pkg" busybox-static) >>"$LOG" 2>&1 ||
        die "apt-get download $kernel_pkg busybox-static failed"
    mv "$DEBS"/.partial/*.deb "$DEBS"/
    rmdir "$DEBS/.partial"
    kernel_deb=$(newest_deb 'linux-image-*-cloud-amd64_*_amd64.deb') || die "no kernel .deb downloaded"
    busybox_deb=$(newest_deb 'busybox-static_*_amd64.deb') || die "no busybox-static .deb downloaded"
fi

# --- 2. unpack ---------------------------------------------------------------------------
rm -rf "$WORK"
mkdir -p "$WORK/kernel" "$WORK/busybox" "$WORK/root"
run dpkg-deb -x "$kernel_deb" "$WORK/kernel"
run dpkg-deb -x "$busybox_deb" "$WORK/busybox"

modbase=""
for d in "$WORK/kernel/lib/modules" "$WORK/kernel/usr/lib/modules"; do
    [ -d "$d" ] && modbase=$d && break
done
[ -n "$modbase" ] || die "no lib/modules in $kernel_deb"
kver=$(ls -1 "$modbase" | head -n 1)
moddir=$modbase/$kver
vmlinuz=$WORK/kernel/boot/vmlinuz-$kver
[ -f "$vmlinuz" ] || die "no boot/vmlinuz-$kver in $kernel_deb"
# Debian generates modules.dep in the package's postinst, so it is usually not shipped.
if [ ! -f "$moddir/modules.dep" ]; then
    run depmod -b "${modbase%/lib/modules}" "$kver"
fi

# --- 3. modules --------------------------------------------------------------------------
# Print the line of modules.dep (or modules.builtin) naming module $1 ("-" and "_" alike).
find_module() { # name file
    awk -F: -v want="$1" '{
        n = $1; sub(/.*\//, "", n); sub(/\.ko(\.(xz|zst|gz))?$/, "", n); gsub(/-/, "_", n)
        if (n == want) { print; exit }
    }' "$2"
}

rootfs=$WORK/root
mkdir -p "$rootfs/bin" "$rootfs/lib/modules" "$rootfs/proc" "$rootfs/sys"
loaded=""    # every module copied, for the summary
builtin=""
# Append module path $1 to $order (write_modules' local) unless it is there already.
add_to_order() {
    case " $order " in *" $1 "*) ;; *) order="$order $1" ;; esac
}
# Resolve the modules $1 (with their dependencies, from modules.dep) into a load order,
# copy them (decompressed) into the rootfs's lib/modules and write their names, in load
# order, to lib/modules/$2. /init loads load.order first and later lists on top of it, so
# a module already in an earlier list is left out of a later one.
write_modules() { # "names" order-file
    local m line path deps rev d p src name order=""
    for m in $1; do
        line=$(find_module "$m" "$moddir/modules.dep")
        if [ -z "$line" ]; then
            [ -n "$(find_module "$m" "$moddir/modules.builtin")" ] ||
                die "module $m is neither in modules.dep nor built in ($kver)"
            builtin="$builtin $m"
            continue
        fi
        path=${line%%:*}
        deps=${line#*:}
        # modules.dep lists dependencies so that the last one must be loaded first.
        rev=""
        for d in $deps; do rev="$d $rev"; done
        for d in $rev; do add_to_order "$d"; done
        add_to_order "$path"
    done

    : >"$rootfs/lib/modules/$2"
    for p in $order; do
        src=$moddir/$p
        [ -f "$src" ] || die "missing module file $p"
        name=$(basename "$p")
        name=${name%.xz}; name=${name%.zst}; name=${name%.gz}
        case " $loaded " in *" ${name%.ko} "*) continue ;; esac
        case "$(basename "$p")" in
            *.ko) cp "$src" "$rootfs/lib/modules/$name" ;;
            *.ko.xz) xz -dc "$src" >"$rootfs/lib/modules/$name" || die "xz -d $p" ;;
            *.ko.zst) zstd -qdc "$src" >"$rootfs/lib/modules/$name" || die "zstd -d $p" ;;
            *.ko.gz) gzip -dc "$src" >"$rootfs/lib/modules/$name" || die "gzip -d $p" ;;
            *) die "unknown module format: $p" ;;
        esac
        loaded="$loaded ${name%.ko}"
        echo "$name" >>"$rootfs/lib/modules/$2"
    done
}
write_modules "$WANT_MODULES" load.order
write_modules "$ACPI_MODULES" acpi.order

# --- 4. busybox, /init, workload ---------------------------------------------------------
cp "$WORK/busybox/bin/busybox" "$rootfs/bin/busybox" || die "no bin/busybox in $busybox_deb"
have=$("$rootfs/bin/busybox" --list) || die "cannot run the extracted busybox"
for a in $APPLETS; do
    grep -qxF -- "$a" <<<"$have" || die "busybox has no applet $a"
    ln -s busybox "$rootfs/bin/$a"
done
cp "$GUEST_DIR/init" "$rootfs/init"
chmod 0755 "$rootfs/init"
run cc -static -O2 -std=gnu11 -Wall -Wextra -Werror \
    -o "$rootfs/bin/berth-workload" "$GUEST_DIR/workload.c" "$GUEST_DIR/memload.c"

# --- 5. initramfs ------------------------------------------------------------------------
# One newc cpio entry with no data (a directory, device node or the trailer). Written by
# hand so /dev/console exists when the kernel starts /init, without needing mknod (root).
cpio_entry() { # ino mode(octal) rdevmajor rdevminor name
    local namesize=$((${#5} + 1))
    printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
        "$1" "$((8#$2))" 0 0 1 0 0 0 0 "$3" "$4" "$namesize" 0
    printf '%s\0' "$5"
    head -c $(((4 - (110 + namesize) % 4) % 4)) /dev/zero
}
initrd_tmp=$OUT/initrd.img.tmp
{
    cpio_entry 1 040755 0 0 dev
    cpio_entry 2 020600 5 1 dev/console
    cpio_entry 0 0 0 0 'TRAILER!!!'
    (cd "$rootfs" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet)
} | gzip -n >"$initrd_tmp" || die "writing the initramfs failed"

cp "$vmlinuz" "$OUT/vmlinuz.tmp"
mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
mv "$initrd_tmp" "$OUT/initrd.img"

echo "guest: built $OUT (kernel $kver; modules:${loaded:- none}; built in:${builtin:- none})"
