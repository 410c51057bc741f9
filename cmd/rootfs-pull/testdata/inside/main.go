// Command inside is the arm64 release test's container program: it says
// which machine it runs on and which rootfs it sees (its os-release), to
// prove it ran inside the pulled rootfs and not on the host.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
)

func main() {
	var u syscall.Utsname
	machine := "?"
	if err := syscall.Uname(&u); err == nil {
		var b strings.Builder
		for _, c := range u.Machine {
			if c == 0 {
				break
			}
			b.WriteByte(byte(c))
		}
		machine = b.String()
	}
	name := "?"
	if f, err := os.Open("/etc/os-release"); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			if v, ok := strings.CutPrefix(s.Text(), "NAME="); ok {
				name = strings.Trim(v, `"`)
			}
		}
		f.Close()
	}
	fmt.Printf("inside %s (%s/%s on %s): [%s]\n", name, runtime.GOOS, runtime.GOARCH, machine, strings.Join(os.Args[1:], "|"))
}
