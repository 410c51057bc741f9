package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
)

// A layer is on disk before the state says it is applied, and the rootfs
// before it says ready: the real binary, traced by strace, calls syncfs
// once per layer, each time just before the state file is replaced.
// Before a layer's first file, the state is saved naming the layer being
// applied. A large file's writeback starts as soon as it is written; small
// files' wait for the layer's syncfs.
func TestPullIsDurable(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Fatal("strace is not installed (scripts/setup.sh installs it)")
	}
	reg := startRegistry(t, testregistry.Options{})
	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB: its writeback starts at once
	push(t, reg.Host, "public/app", testimage.Build(testimage.Spec{Layers: []testimage.Layer{
		{Tar: testimage.Tar(testimage.Dir("etc/"), testimage.File("etc/hello", "hello\n")), Compression: testimage.Gzip},
		{Tar: testimage.Tar(testimage.File("etc/second", "2\n"), testimage.File("etc/big", big)), Compression: testimage.Zstd},
	}}))
	log := filepath.Join(t.TempDir(), "strace.log")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := command(t, ctx, "", "-q", reg.Host+"/public/app", filepath.Join(t.TempDir(), "r"))
	cmd.Args = append([]string{strace, "-f", "-qq", "-o", log, "-e", "trace=syncfs,sync_file_range,rename,renameat,renameat2,openat"}, cmd.Args...)
	cmd.Path = strace
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pull under strace: %v\n%s", err, out)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	// The calls in order: "syncfs", "state" (state.json replaced),
	// "file" (an image file created), "range".
	call := regexp.MustCompile(`(syncfs|sync_file_range2?|rename(?:at2?)?|openat)\(`)
	imageFile := regexp.MustCompile(`openat\(\d+, "(hello|second|big)", [^)]*O_CREAT`)
	var seq []string
	for _, line := range strings.Split(string(b), "\n") {
		m := call.FindStringSubmatch(line)
		switch {
		case m == nil:
		case m[1] == "syncfs":
			seq = append(seq, "syncfs")
		case strings.HasPrefix(m[1], "sync_file_range"):
			seq = append(seq, "range")
		case m[1] == "openat":
			if imageFile.MatchString(line) {
				seq = append(seq, "file")
			}
		case strings.Contains(line, "/.rootfs-pull/state.json\"") || strings.Contains(line, ", \"state.json\""):
			seq = append(seq, "state")
		}
	}
	// And each layer's first file is written only after a save (the
	// state naming the layer being applied) that is not the previous
	// layer's "applied".
	syncs, ranges, files := 0, 0, 0
	marked, firstFile := false, true
	for i, s := range seq {
		switch s {
		case "syncfs":
			syncs++
			if i+1 >= len(seq) || seq[i+1] != "state" {
				t.Errorf("syncfs #%d is not followed by the state's save: %v", syncs, seq)
			}
			marked, firstFile = false, true
		case "state":
			if i > 0 && seq[i-1] != "syncfs" {
				marked = true
			}
		case "file":
			files++
			if firstFile && !marked {
				t.Errorf("layer %d's first file is written before the state says it is being applied: %v", syncs+1, seq)
			}
			firstFile = false
		case "range":
			ranges++
			if i == 0 || seq[i-1] != "file" {
				t.Errorf("a writeback started away from a file's writing: %v", seq)
			}
		}
	}
	if syncs != 2 {
		t.Errorf("%d syncfs calls, want one per layer (2): %v", syncs, seq)
	}
	if files != 3 || ranges != 1 {
		t.Errorf("%d files made and %d writebacks started, want 3 and 1 (the 1 MiB file's): %v", files, ranges, seq)
	}
	if len(seq) == 0 || seq[len(seq)-1] != "state" {
		t.Errorf("the last call is not the state's save (ready): %v", seq)
	}
}
