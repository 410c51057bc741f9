package launcher

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
)

// ROOTFS_DRY_RUN=1 ./start-NAME.sh printed the command with the image's
// Env and Cmd words raw: an ESC sequence from the image reached the user's
// terminal (and could redraw what the user reads and copies). The dry run
// now escapes what safetext escapes, in every shell, while the real run
// still gets the exact words.
func TestDryRunEscapesImageText(t *testing.T) {
	bin := fakeRuntimes(t)
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "fs")
	mkReady(t, rootfs)
	for _, d := range []string{"tmp", "proc", "sys", "dev"} {
		os.MkdirAll(filepath.Join(rootfs, d), 0755)
	}
	var all strings.Builder // every character escaped, one after the other
	for r := rune(1); r <= 0xffff; r++ {
		if c := string(r); (r < 0xd800 || r > 0xdfff) && !safetext.Safe(c) {
			all.WriteString(c + "é")
		}
	}
	cfg := Config{
		Image: "img", Digest: "sha256:x", Platform: "linux/amd64",
		Cmd:        []string{"/bin/echo", "a\x1b[2K\r", "\x1b]0;t\x07", "x\u202eevil\u009b31m", all.String(), "tab\there\nnew line", "plain 'quoted' \\ $x"},
		Env:        []string{"PATH=/bin", "FOO=\x1b]0;t\x07", "LD_X=\x1b[31m"},
		WorkingDir: "/w\x1b[D", Runtime: Proot,
	}
	script := filepath.Join(dir, "start-fs.sh")
	if err := Write(script, rootfs, cfg); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(rootfs, "bin"), 0755)
	os.WriteFile(filepath.Join(rootfs, "bin", "sh"), nil, 0755)
	for _, sh := range shells(t) {
		for _, rt := range []string{"proot", "chroot", "ruri"} {
			if rt == "chroot" && os.Geteuid() != 0 {
				continue
			}
			out, errOut, err := runScript(t, sh, script, bin, []string{"ROOTFS_RUNTIME=" + rt, "ROOTFS_DRY_RUN=1"})
			if err != nil {
				t.Fatalf("%s %s dry run: %v: %s", sh[0], rt, err, errOut)
			}
			line := strings.TrimSuffix(out, "\n")
			if !safetext.Safe(line) {
				t.Errorf("%s %s: ROOTFS_DRY_RUN prints the image's control characters raw: %q", sh[0], rt, out)
			}
			if rt == "ruri" {
				continue // not installed: no real run to compare with
			}
			// The dry run's words are the real run's, escaped.
			if _, errOut, err := runScript(t, sh, script, bin, []string{"ROOTFS_RUNTIME=" + rt}); err != nil {
				t.Fatalf("%s %s: %v: %s", sh[0], rt, err, errOut)
			}
			argv, _ := recorded(t, bin)
			if !slices.Contains(argv, all.String()) {
				t.Errorf("%s %s: the real run did not get the exact words: %q", sh[0], rt, argv)
			}
			shown := evalWords(t, line)
			i := slices.Index(shown, filepath.Join(bin, rt))
			if i < 0 {
				t.Fatalf("%s %s: no %s in the dry run's words %q", sh[0], rt, rt, shown)
			}
			want := slices.Clone(argv)
			for j := range want {
				want[j] = safetext.Cut(want[j], 0)
			}
			if got := shown[i+1:]; !slices.Equal(got, want) {
				t.Errorf("%s %s: the dry run shows\n %q\nthe real run got (escaped)\n %q", sh[0], rt, got, want)
			}
		}
	}
}
