//go:build !amd64

package androidsim

// sysLink: newer architectures (arm64, riscv64) have only linkat(2).
const sysLink = -1
