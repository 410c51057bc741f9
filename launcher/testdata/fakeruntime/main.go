// Command fakeruntime stands in for proot and chroot in the launcher's
// tests: called by one of those names (a symlink in a fake bin
// directory), it records its argv and its environment beside itself
// instead of starting anything, so a test sees exactly what env handed
// the runtime. It is built without the race detector: the property test
// starts it thousands of times.
package main

import (
	"os"
	"path/filepath"
	"strings"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "--help" {
		if filepath.Base(os.Args[0]) == "chroot" { // as GNU coreutils' chroot, which can switch user
			os.Stdout.WriteString("  --userspec=USER:GROUP  specify user and group (ID or name) to use\n")
		}
		// A test may give it a proot's help text to show (Termux's).
		os.Stdout.WriteString(os.Getenv("FAKERUNTIME_HELP"))
		return
	}
	dir := filepath.Dir(os.Args[0])
	os.WriteFile(filepath.Join(dir, "argv"), []byte(strings.Join(os.Args[1:], "\x00")), 0644)
	os.WriteFile(filepath.Join(dir, "environ"), []byte(strings.Join(os.Environ(), "\x00")), 0644)
}
