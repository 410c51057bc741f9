package launcher

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// IsFor's script comes from the state file, which a container process can
// rewrite: only a small regular file outside the rootfs, not a symlink, is
// read, and nothing makes IsFor block.
func TestIsForUntrustedPath(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "fs")
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0755); err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(base, "start-fs.sh")
	if err := Write(real, dir, testConfig()); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(real)
	if err != nil {
		t.Fatal(err)
	}
	// The same launcher, by absolute rootfs path, inside the rootfs.
	inside := filepath.Join(dir, "tmp", "start.sh")
	abs := strings.Replace(string(script), `rootfs="$here"/fs`, "rootfs="+Quote(dir), 1)
	if abs == string(script) {
		t.Fatal("the launcher's rootfs line changed: fix the test")
	}
	os.WriteFile(inside, []byte(abs), 0755)
	fifo := filepath.Join(base, "fifo")
	if err := syscall.Mkfifo(fifo, 0644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link.sh")
	os.Symlink(real, link)
	big := filepath.Join(base, "big.sh")
	os.WriteFile(big, append(script, make([]byte, maxScript)...), 0755)

	for _, tc := range []struct {
		name, script string
		want         bool
	}{
		{"the launcher", real, true},
		{"a copy of it inside the rootfs", inside, false},
		{"a FIFO", fifo, false},
		{"a symlink to the launcher", link, false},
		{"over 1 MiB", big, false},
		{"a device", "/dev/null", false},
		{"relative", "start-fs.sh", false},
		{"nothing", "", false},
	} {
		done := make(chan bool, 1)
		go func() { done <- IsFor(tc.script, dir) }()
		select {
		case got := <-done:
			if got != tc.want {
				t.Errorf("%s: IsFor(%s) = %v, want %v", tc.name, tc.script, got, tc.want)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s: IsFor(%s) blocks", tc.name, tc.script)
			os.WriteFile(fifo, nil, 0644) // unblock it: open for writing
		}
	}
}
