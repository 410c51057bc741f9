#!/bin/sh
# install.sh: install the rootfs-pull binary for this machine from a
# release directory or URL (one holding rootfs-pull-* and SHA256SUMS), after
# checking its checksum.
#
#   sh install.sh --from https://example.org/rootfs-pull/v1.0/
#   sh install.sh --from ./dist [--bindir DIR] [--target linux-arm64]
#   sh install.sh --from https://… --sums ./SHA256SUMS  # a copy you trust
#
# Installs into $PREFIX/bin on Termux, else ~/.local/bin (--bindir to
# choose). Downloads only over https (no redirect to http). Works with sh,
# curl or GNU wget, and sha256sum (coreutils, busybox or toybox) or shasum.
set -eu
me=install.sh
die() {
	echo "$me: $*" >&2
	exit 1
}

from= bindir= target= sums=
while [ $# -gt 0 ]; do
	case $1 in
	--from) from=${2:-}; shift 2 || die "--from needs a directory or URL" ;;
	--sums) sums=${2:-}; shift 2 || die "--sums needs a SHA256SUMS file" ;;
	--bindir) bindir=${2:-}; shift 2 || die "--bindir needs a directory" ;;
	--target) target=${2:-}; shift 2 || die "--target needs a name such as linux-arm64" ;;
	--print-target) print=1; shift ;;
	-h | --help)
		sed -n '2,15s/^# \{0,1\}//p' "$0"
		exit 0
		;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done

termux=
if [ -n "${TERMUX_VERSION:-}" ] || case ${PREFIX:-} in */com.termux/*) true ;; *) false ;; esac; then
	termux=1
fi

# The binary for this machine. ROOTFS_PULL_UNAME_M and
# ROOTFS_PULL_LONG_BIT stand in for uname -m and getconf LONG_BIT in tests.
if [ -z "$target" ]; then
	m=${ROOTFS_PULL_UNAME_M:-$(uname -m)}
	bits=${ROOTFS_PULL_LONG_BIT:-$(getconf LONG_BIT 2>/dev/null || echo 64)}
	case $m in
	x86_64 | amd64) target=linux-amd64 ;;
	i?86) target=linux-386 ;;
	aarch64 | arm64)
		if [ "$bits" = 32 ]; then
			target=linux-armv7 # a 32-bit userland on a 64-bit kernel
		elif [ -n "$termux" ]; then
			target=android-arm64
		else
			target=linux-arm64
		fi
		;;
	armv8l | armv7l | armv7*) target=linux-armv7 ;;
	armv6l | armv6*) target=linux-armv6 ;;
	riscv64) target=linux-riscv64 ;;
	*) die "no release binary for $m: build from source (make build)" ;;
	esac
fi
if [ -n "${print:-}" ]; then
	echo "$target"
	exit 0
fi
[ -n "$from" ] || die "give the release directory or URL with --from"
case $from in
http://*) die "refusing $from: plain http can be tampered with on the way; use https, or a directory" ;;
esac

if [ -z "$bindir" ]; then
	if [ -n "$termux" ] && [ -n "${PREFIX:-}" ]; then
		bindir=$PREFIX/bin
	else
		bindir=$HOME/.local/bin
	fi
fi
mkdir -p "$bindir" || die "cannot create $bindir"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rootfs-pull-install.XXXXXX") || die "cannot make a temporary directory"
trap 'rm -rf "$tmp"' EXIT INT TERM

fetch() { # fetch NAME: copy or download it into $tmp
	case $from in
	https://*)
		url=${from%/}/$1
		# https only, redirects included: a redirect to http is refused.
		if command -v curl >/dev/null 2>&1; then
			curl -fsSL --proto '=https' --proto-redir '=https' -o "$tmp/$1" "$url" || die "download $url failed"
		elif command -v wget >/dev/null 2>&1 && wget --help 2>&1 | grep -q -- --https-only; then
			wget -q --https-only -O "$tmp/$1" "$url" || die "download $url failed"
		else
			die "curl is not installed (or this wget cannot be held to https): install curl (Termux: pkg install curl)"
		fi
		;;
	*) cp "${from%/}/$1" "$tmp/$1" 2>/dev/null || die "$from has no $1" ;;
	esac
}

name=rootfs-pull-$target
if [ -n "$sums" ]; then
	cp "$sums" "$tmp/SHA256SUMS" 2>/dev/null || die "cannot read $sums"
else
	fetch SHA256SUMS
fi
fetch "$name"
want=$(awk -v n="$name" '$2 == n || $2 == "*" n { print $1 }' "$tmp/SHA256SUMS")
[ -n "$want" ] || die "SHA256SUMS has no line for $name"
if command -v sha256sum >/dev/null 2>&1; then
	got=$(sha256sum "$tmp/$name" | awk '{ print $1 }')
elif command -v shasum >/dev/null 2>&1; then
	got=$(shasum -a 256 "$tmp/$name" | awk '{ print $1 }')
else
	die "no sha256sum or shasum to check the download with"
fi
[ "$got" = "$want" ] || die "checksum mismatch for $name (got $got, want $want): not installed"

chmod 755 "$tmp/$name"
"$tmp/$name" --version >/dev/null 2>&1 || die "$name does not run on this machine (try --target)"
cp "$tmp/$name" "$bindir/.rootfs-pull.new" && mv -f "$bindir/.rootfs-pull.new" "$bindir/rootfs-pull" ||
	die "cannot write $bindir/rootfs-pull"
echo "Installed $bindir/rootfs-pull ($target): $("$bindir/rootfs-pull" --version)"
case ":$PATH:" in
*":$bindir:"*) ;;
*) echo "Add it to your PATH: export PATH=\"$bindir:\$PATH\"" ;;
esac
