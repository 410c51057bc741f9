package rootfs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
)

// BenchmarkApply applies a layer shaped like a distribution's (many small
// files, a few large, in a few hundred directories) to a fresh directory
// under $TMPDIR (/dev/shm for tmpfs). For profiling the applier alone:
//
//	go test -run - -bench Apply -cpuprofile cpu.out ./rootfs
func BenchmarkApply(b *testing.B) {
	var ents []ent
	for d := range 300 {
		dirName := fmt.Sprintf("usr/share/pkg%03d", d)
		ents = append(ents, dir(dirName))
		for f := range 20 {
			size := 2000 // most files in a rootfs are small
			if f == 0 && d%10 == 0 {
				size = 1 << 20
			}
			ents = append(ents, file(fmt.Sprintf("%s/file%02d", dirName, f), strings.Repeat("x", size)))
		}
		ents = append(ents, symlink(dirName+"/link", "file00"))
	}
	layer := layerTar(b, ents...)
	b.SetBytes(int64(len(layer)))
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		dir, err := os.MkdirTemp("", "bench-apply")
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := Apply(context.Background(), dir, bytes.NewReader(layer)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := RemoveTree(dir); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
