package launcher_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/launcher"
)

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
