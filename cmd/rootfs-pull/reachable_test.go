package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
)

// As root, a rootfs that every local user can reach hands them the
// image's setuid programs and device nodes: the pull says so once, and
// says nothing when a parent keeps others out.
func TestReachableNote(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the note is for pulls as root; CI runs this as root")
	}
	reg := startRegistry(t, testregistry.Options{})
	push(t, reg.Host, "demo/reach", smallImage())
	for _, open := range []bool{false, true} {
		parent := t.TempDir() // 0700, under /tmp's 1777
		if open {
			for p := parent; p != "/tmp"; p = filepath.Dir(p) {
				os.Chmod(p, 0755)
			}
		}
		dir := filepath.Join(parent, "rootfs")
		r := runCLI(t, "", reg.Host+"/demo/reach", dir)
		if r.code != 0 {
			t.Fatal(r.stderr)
		}
		has := strings.Contains(r.stderr, "every user of this machine")
		if has != open {
			t.Errorf("reachable=%v: note shown %v; stderr:\n%s", open, has, r.stderr)
		}
		if open && strings.Count(r.stderr, "setuid") != 1 {
			t.Errorf("the note is not said exactly once:\n%s", r.stderr)
		}
	}
}
