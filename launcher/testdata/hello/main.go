// Command hello is the foreign-architecture test program: it says which
// platform it was built for and echoes its arguments.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
)

func main() {
	fmt.Printf("hello from %s/%s: [%s]\n", runtime.GOOS, runtime.GOARCH, strings.Join(os.Args[1:], "|"))
}
