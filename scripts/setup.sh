#!/bin/sh
# setup.sh installs what the tests, the demo and the benchmarks need on a
# fresh Debian/Ubuntu machine: the real tools rootfs-pull is tested
# against (proot, umoci, skopeo, busybox, qemu-user and an aarch64 loader,
# strace, curl, dnsmasq, mksh, toybox, dosfstools, fusefat) and the Go
# modules. It does nothing for what is already there, so running it twice
# is cheap.
set -eu

need=""
have() { command -v "$1" >/dev/null 2>&1; }
have proot || need="$need proot"
have umoci || need="$need umoci"
ldd /bin/busybox 2>&1 | grep -q "not a dynamic" || need="$need busybox-static" # the images need a static one
have setpriv || need="$need util-linux"
have skopeo || need="$need skopeo" # save is checked with it
have qemu-aarch64-static || need="$need qemu-user-static"
# the android build's /system/bin/linker64 under qemu is glibc's aarch64 loader
[ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] || need="$need libc6-arm64-cross"
have strace || need="$need strace" # the durability test traces syncfs
have curl || need="$need curl"     # install.sh is tested with it (https only)
have dnsmasq || [ -x /usr/sbin/dnsmasq ] || need="$need dnsmasq-base" # the DNS tests' real server
have mksh || need="$need mksh"                                          # Android's /system/bin/sh
have toybox || need="$need toybox"                                      # Android's /system/bin tools
have mkfs.vfat || [ -x /sbin/mkfs.vfat ] || need="$need dosfstools"     # a FAT to refuse pulling into
have fusefat || need="$need fusefat"                                    # FAT through FUSE, as /sdcard is
if [ -n "${BENCH:-}" ]; then # make bench: the peers and the image's maker
	have debootstrap || need="$need debootstrap"
	have mkfs.ext4 || [ -x /sbin/mkfs.ext4 ] || need="$need e2fsprogs" # a fresh ext4 per disk run
	have losetup || need="$need mount"
fi

if [ -n "$need" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: missing:$need; install them (sudo apt-get install$need) or run this as root" >&2
		exit 1
	fi
	echo "setup: installing$need"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $need >/dev/null
fi

go mod download
echo "setup: ready"
