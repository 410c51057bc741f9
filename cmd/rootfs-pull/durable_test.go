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

	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
)

// A layer is on disk before the state says it is applied, and the rootfs
// before it says ready: the real binary, traced by strace, calls syncfs
// once per layer, each time just before the state file is replaced, and
// starts each file's writeback as it goes. Before a layer's first file,
// the state is saved naming the layer being applied.
func TestPullIsDurable(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Fatal("strace is not installed (scripts/setup.sh installs it)")
	}
	reg := startRegistry(t, testregistry.Options{})
	push(t, reg.Host, "public/app", smallImage()) // two layers
	log := filepath.Join(t.TempDir(), "strace.log")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := command(t, ctx, "", "-q", reg.Host+"/public/app", filepath.Join(t.TempDir(), "r"))
	cmd.Args = append([]string{strace, "-f", "-qq", "-o", log, "-e", "trace=syncfs,sync_file_range,rename,renameat,renameat2"}, cmd.Args...)
	cmd.Path = strace
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pull under strace: %v\n%s", err, out)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	// The calls in order: "syncfs", "state" (state.json replaced), "range".
	call := regexp.MustCompile(`(syncfs|sync_file_range2?|rename(?:at2?)?)\(`)
	var seq []string
	for _, line := range strings.Split(string(b), "\n") {
		m := call.FindStringSubmatch(line)
		switch {
		case m == nil:
		case m[1] == "syncfs":
			seq = append(seq, "syncfs")
		case strings.HasPrefix(m[1], "sync_file_range"):
			seq = append(seq, "range")
		case strings.Contains(line, "/.rootfs-pull/state.json\"") || strings.Contains(line, ", \"state.json\""):
			seq = append(seq, "state")
		}
	}
	// And each layer's first file is written only after a save (the
	// state naming the layer being applied) that is not the previous
	// layer's "applied".
	syncs, ranges := 0, 0
	marked, firstRange := false, true
	for i, s := range seq {
		switch s {
		case "syncfs":
			syncs++
			if i+1 >= len(seq) || seq[i+1] != "state" {
				t.Errorf("syncfs #%d is not followed by the state's save: %v", syncs, seq)
			}
			marked, firstRange = false, true
		case "state":
			if i > 0 && seq[i-1] != "syncfs" {
				marked = true
			}
		case "range":
			ranges++
			if firstRange && !marked {
				t.Errorf("layer %d's first file is written before the state says it is being applied: %v", syncs+1, seq)
			}
			firstRange = false
		}
	}
	if syncs != 2 {
		t.Errorf("%d syncfs calls, want one per layer (2): %v", syncs, seq)
	}
	if ranges < 2 {
		t.Errorf("%d writebacks started, want one per file written (at least 2): %v", ranges, seq)
	}
	if len(seq) == 0 || seq[len(seq)-1] != "state" {
		t.Errorf("the last call is not the state's save (ready): %v", seq)
	}
}
