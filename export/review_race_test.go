package export_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rootfs-pull/rootfs-pull/export"
	"github.com/rootfs-pull/rootfs-pull/registry"
)

// TestReviewRestoreMetaIsWhatWasHashed: with --sha256, a restore must
// use only bytes that matched it. Resolve read the archive's head (its
// state, config and launcher defaults) in one pass and hashed the file
// in a second one: whoever can write the file meanwhile (an app on
// shared storage, the other owner of a directory) shows the first pass
// hostile defaults and the second the genuine bytes, and the hostile
// options are taken as verified. Here the file flips between the two
// while it is restored, as fast as it can.
func TestReviewRestoreMetaIsWhatWasHashed(t *testing.T) {
	_, _, dir := pullRich(t)
	file := filepath.Join(tmp(t), "b.tar")
	if _, err := export.Export(ctx(t), dir, file, export.Options{}); err != nil {
		t.Fatal(err)
	}
	genuine, _ := os.ReadFile(file)
	sum := fileSHA256(t, file)
	off := bytes.Index(genuine, []byte("--shared-tmp"))
	if off < 0 {
		t.Fatal("no defaults in the export")
	}
	good, evil := []byte("--shared-tmp"), []byte("--shared-x11")
	f, err := os.OpenFile(file, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				f.WriteAt(good, int64(off))
				return
			default:
			}
			if i%2 == 0 {
				f.WriteAt(evil, int64(off))
			} else {
				f.WriteAt(good, int64(off))
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	deadline := time.Now().Add(5 * time.Second)
	verified := 0
	for time.Now().Before(deadline) {
		src, err := export.Open(file, sum)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.Resolve(ctx(t), registry.HostPlatform()); err != nil {
			continue // the hash saw the hostile bytes: refused, as it must be
		}
		verified++
		script := filepath.Join(tmp(t), "start-x.sh")
		if _, err := src.WriteDefaults(script); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(filepath.Dir(script), "start-x.defaults"))
		if strings.Contains(string(b), "--shared-x11") {
			t.Fatalf("after %d verified reads: the archive matched --sha256, but its defaults are the hostile ones, read before the hash", verified)
		}
	}
	t.Logf("%d verified reads, none with the hostile defaults", verified)
}
