// Command probe is the program TestWrap runs under the filter: it prints
// what it sees (uid, seccomp mode, directory, environment, arguments),
// then makes the syscall named in ANDROIDSIM_TEST_CALL, if any, and prints
// its errno. It is built static (CGO_ENABLED=0), as rootfs-pull is.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unsafe"
)

func main() {
	status, _ := os.ReadFile("/proc/self/status")
	var seccomp string
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "Seccomp:"); ok {
			seccomp = strings.TrimSpace(v)
		}
	}
	wd, _ := os.Getwd()
	_, wrapVar := os.LookupEnv("ROOTFS_PULL_ANDROIDSIM_EXEC")
	fmt.Printf("uid=%d seccomp=%s cwd=%s foo=%s wrapvar=%v args=%q\n",
		os.Getuid(), seccomp, wd, os.Getenv("ANDROIDSIM_FOO"), wrapVar, os.Args[1:])
	name := os.Getenv("ANDROIDSIM_TEST_CALL")
	if name == "" {
		return
	}
	dir, err := os.MkdirTemp("", "probe")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	p := func(s string) uintptr { b, _ := syscall.BytePtrFromString(s); return uintptr(unsafe.Pointer(b)) }
	cwd := ^uintptr(99) // AT_FDCWD
	var errno syscall.Errno
	switch name {
	case "linkat":
		_, _, errno = syscall.RawSyscall6(syscall.SYS_LINKAT, cwd, p(file), cwd, p(file+".l"), 0, 0)
	case "chroot":
		_, _, errno = syscall.RawSyscall(syscall.SYS_CHROOT, p("/"), 0, 0)
	default:
		fmt.Printf("probe: no syscall %q\n", name)
		os.Exit(1)
	}
	fmt.Printf("androidsim-result: %s errno=%d\n", name, errno)
}
