#!/bin/sh
# build.sh OS/ARCH[/VARIANT] OUTDIR: one release binary of rootfs-pull,
# static (CGO_ENABLED=0), stripped, reproducible (-trimpath, no build id,
# no VCS stamp but the version and commit given), named
# rootfs-pull-OS-ARCH[VARIANT]. VERSION and COMMIT come from the
# environment (make release sets them from git).
set -eu
target=$1 out=$2
os=${target%%/*}
rest=${target#*/}
arch=${rest%%/*}
variant=
[ "$rest" = "$arch" ] || variant=${rest#*/}
name=rootfs-pull-$os-$arch$variant
goarm=
if [ "$arch" = arm ]; then
	goarm=${variant#v}
	[ -n "$goarm" ] || goarm=7
fi
mkdir -p "$out"
GOOS=$os GOARCH=$arch GOARM=$goarm CGO_ENABLED=0 go build -trimpath -buildvcs=false \
	-ldflags "-s -w -buildid= -X main.version=${VERSION:-dev} -X main.commit=${COMMIT:-unknown}" \
	-o "$out/$name" ./cmd/rootfs-pull
size=$(wc -c <"$out/$name")
if [ "$size" -gt $((15 * 1024 * 1024)) ]; then
	echo "build: $name is $size bytes, over the 15 MiB budget" >&2
	exit 1
fi
echo "$out/$name ($size bytes)"
