package androidsim

import (
	"debug/elf"
	"sync"
)

var hostLibc struct {
	once sync.Once
	yes  bool
}

// onHostLibc reports whether this program was linked against the host's
// C library (it has an ELF interpreter): built with cgo, or with -race,
// whose runtime is C. Its threads then come from glibc's pthread_create.
func onHostLibc() bool {
	hostLibc.once.Do(func() {
		f, err := elf.Open("/proc/self/exe")
		if err != nil {
			return
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				hostLibc.yes = true
			}
		}
	})
	return hostLibc.yes
}
