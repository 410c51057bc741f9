package launcher

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/internal/androidsim"
)

func TestFindProgram(t *testing.T) {
	dir := t.TempDir()
	for name, mode := range map[string]os.FileMode{"tool": 0o755, "data": 0o644} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", "relative:"+filepath.Join(dir, "missing")+":"+dir)
	for _, c := range []struct{ name, want string }{
		{"tool", filepath.Join(dir, "tool")},
		{"data", ""}, // no execute bit
		{"sub", ""},  // a directory
		{"nope", ""},
		{filepath.Join(dir, "tool"), filepath.Join(dir, "tool")},
		{filepath.Join(dir, "data"), ""},
	} {
		got, err := findProgram(c.name)
		if got != c.want || (c.want == "") != (err != nil) {
			t.Errorf("findProgram(%q) = %q, %v; want %q", c.name, got, err, c.want)
		}
		if err != nil && !errors.Is(err, exec.ErrNotFound) {
			t.Errorf("findProgram(%q): %v, want exec.ErrNotFound", c.name, err)
		}
	}
}

// TestAndroidFindProgram: looking a runtime up must not kill rootfs-pull
// in Termux, where Android's app seccomp policy traps faccessat2 (which
// exec.LookPath uses on GOOS=linux). The lookups run again under that
// policy.
func TestAndroidFindProgram(t *testing.T) {
	if on, _ := androidsim.Active(); on {
		if p := hostPath("sh"); !filepath.IsAbs(p) {
			t.Fatalf("hostPath(sh) = %q", p)
		}
		Effective(Auto, true)
		return
	}
	out, killed, err := androidsim.Rerun("^TestAndroidFindProgram$", false)
	if killed {
		t.Fatalf("looking up a program made a syscall Android forbids:\n%s", out)
	}
	if err != nil {
		t.Fatalf("under the Android policy: %v\n%s", err, out)
	}
}
