// Command gensysnum writes package androidsim's syscall number tables
// (go generate in internal/androidsim runs it).
//
//	go run ./internal/gensysnum -o zsysnum.go
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/rootfs-pull/rootfs-pull/internal/androidsim/internal/sysnum"
)

func main() {
	out := flag.String("o", "zsysnum.go", "the file to write")
	flag.Parse()
	dir, err := sysnum.XSysDir()
	if err == nil {
		var src []byte
		if src, err = sysnum.Generate(dir); err == nil {
			err = os.WriteFile(*out, src, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gensysnum:", err)
		os.Exit(1)
	}
}
