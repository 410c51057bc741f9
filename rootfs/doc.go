// Package rootfs applies image layers to a directory in place, records
// what the directory holds (its state), and builds the command that starts
// it.
//
// The applier resolves every name the way chroot would see it: ".." stops
// at the root, absolute symlinks are re-rooted, the last component is never
// followed, and every syscall is relative to a directory fd opened by that
// walk (openat, mkdirat, unlinkat, linkat, symlinkat, mknodat, fchmodat
// without flags). It uses neither openat2 nor fchmodat2, which Android's app
// seccomp policy answers with SIGSYS.
//
// Small files in directories the layer itself made are created by a pool
// of workers (parallel.go), in batches; the applier's goroutine keeps the
// order by waiting for the pool before anything that could meet a file
// still being made.
package rootfs
