package launcher_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/launcher"
)

// Review (hostile, issue 14): Prepare reads the image's whole
// /etc/resolv.conf into memory (root.ReadFile) only to see whether it
// starts with the tool's marker line. A layer of a few MB (a GB of zeros
// compresses ~1000:1; a sparse entry even better) ships a multi-GB
// resolv.conf, and the pull then holds all of it in memory: unbounded
// memory from the image, on a phone. Reading len(dnsMarker) bytes is
// enough.
func TestReviewPrepareReadsWholeResolvConf(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0755); err != nil {
		t.Fatal(err)
	}
	const size = 96 << 20
	f, err := os.Create(filepath.Join(dir, "etc", "resolv.conf"))
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("nameserver 10.0.0.1\n")
	if err := f.Truncate(size); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := launcher.Prepare(dir, launcher.PrepareOptions{DNS: []string{"1.1.1.1"}}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
		t.Errorf("Prepare allocated %d MiB for a %d MiB /etc/resolv.conf from the image: memory grows with the image's file", got>>20, size>>20)
	}
}

// Review (hostile, issue 14, terminal output): ROOTFS_DRY_RUN=1
// ./start-NAME.sh prints the command with the image's Env and Cmd words
// raw: an ESC sequence from the image reaches the user's terminal (and can
// redraw what the user reads and copies).
func TestReviewDryRunPrintsImageEscapes(t *testing.T) {
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "fs")
	if err := os.MkdirAll(filepath.Join(rootfs, ".rootfs-pull"), 0755); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(rootfs, "tmp"), 0755)
	if err := os.WriteFile(filepath.Join(rootfs, ".rootfs-pull", "state.json"), []byte(`{"status": "ready"}`), 0644); err != nil {
		t.Fatal(err)
	}
	cfg := launcher.Config{
		Image: "img", Digest: "sha256:x", Platform: "linux/amd64",
		Cmd: []string{"/bin/echo", "a\x1b[2K\r"}, Env: []string{"PATH=/bin", "FOO=\x1b]0;t\x07"},
		WorkingDir: "/", Runtime: launcher.Proot,
	}
	script := filepath.Join(dir, "start-fs.sh")
	if err := launcher.Write(script, rootfs, cfg); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(script)
	cmd.Env = append(os.Environ(), "ROOTFS_DRY_RUN=1", "ROOTFS_RUNTIME=proot")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dry run: %v: %s", err, out)
	}
	if strings.ContainsAny(string(out), "\x1b\x07\r") {
		t.Errorf("ROOTFS_DRY_RUN prints the image's control characters raw: %q", out)
	}
}
