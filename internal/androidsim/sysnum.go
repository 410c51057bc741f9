package androidsim

// zsysnum.go holds the syscall numbers of x86_64 and arm64, by the
// kernel's names, as golang.org/x/sys/unix has them.
//go:generate go run ./internal/gensysnum -o zsysnum.go
