# rootfs-pull — see README.md.
#
#   make test   set up this machine (Debian packages, Go modules), then lint and run every test
#   make demo   a local registry, a small image pushed to it, pulled and run
#   make build  bin/rootfs-pull

GO      ?= go
BIN     := bin/rootfs-pull
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# Release targets: what Termux (arm64, arm/v7), rooted phones, SBCs and PCs run.
RELEASE_TARGETS := linux/arm64 linux/arm/v7 linux/arm/v6 linux/amd64 linux/386 linux/riscv64 android/arm64

.PHONY: all build setup lint test demo bench release clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/rootfs-pull

# Installs the real tools the tests compare against (proot, umoci, skopeo, qemu-user,
# busybox-static); a no-op when they are there.
setup:
	sh scripts/setup.sh

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# As root, the applier's tests also re-run themselves as an unprivileged
# user (the Termux case); the race detector covers the concurrent code.
test: setup lint
	$(GO) test -race -timeout 30m ./...

demo: setup build
	$(GO) run ./scripts/demo -bin $(BIN) -dir demo/busybox

# Times rootfs-pull against crane, skopeo+umoci, curl|tar, tar -xzf and the
# gzip decode floor on a debootstrap'd Debian (one layer, and the same in 7
# layers), over a "lan" and a "phone" network, onto tmpfs and a fresh ext4
# (needs root, debootstrap and a Debian mirror the first time; see
# scripts/bench). QUICK=1: a small cut of the image and 2 rounds.
bench: setup build
	BENCH=1 sh scripts/setup.sh
	$(GO) build -o bin/bench ./scripts/bench
	bin/bench -bin $(BIN) $(if $(QUICK),-quick -rounds $(or $(ROUNDS),2),-rounds $(or $(ROUNDS),5))

# Static, stripped, reproducible binaries for every release target, and
# their SHA256SUMS, in dist/.
release:
	rm -rf dist
	for t in $(RELEASE_TARGETS); do VERSION=$(VERSION) COMMIT=$(COMMIT) sh scripts/build.sh $$t dist || exit 1; done
	cd dist && sha256sum rootfs-pull-* > SHA256SUMS
	@cat dist/SHA256SUMS

clean:
	rm -rf bin dist
