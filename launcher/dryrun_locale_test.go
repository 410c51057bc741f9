package launcher

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Found by the second hostile review, fixed since: the dry run's shown() matches the image's words as the
// shell's locale reads them. Under bash in a UTF-8 locale, an invalid
// sequence (an ESC, then "\xc2\\", then another ESC) makes bash's ${s%%"$c"*} /
// ${s#*"$c"} read memory it should not: what ROOTFS_DRY_RUN prints is a
// different, random string each run, with raw control bytes in it (and bits
// of bash's heap). The dry run must print the words, escaped, whatever the
// shell and locale.
func TestDryRunInvalidUTF8UnderBashUTF8(t *testing.T) {
	if _, err := os.Stat("/usr/bin/bash"); err != nil {
		t.Skip("no bash")
	}
	bin := fakeRuntimes(t)
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "fs")
	mkReady(t, rootfs)
	for _, d := range []string{"tmp", "proc", "sys", "dev"} {
		os.MkdirAll(filepath.Join(rootfs, d), 0755)
	}
	word := "\x1b\xc2\\x \x1b"
	cfg := Config{
		Image: "img", Digest: "sha256:x", Platform: "linux/amd64",
		Cmd: []string{"/bin/echo", word}, Env: []string{"PATH=/bin"},
		WorkingDir: "/", Runtime: Proot,
	}
	script := filepath.Join(dir, "start-fs.sh")
	if err := Write(script, rootfs, cfg); err != nil {
		t.Fatal(err)
	}
	// What shown() means to print: each table character escaped, the
	// invalid byte \xc2 left as it is.
	want := `'\x1b` + "\xc2" + `\x \x1b'`
	for _, sh := range [][]string{{"bash"}, {"bash", "--posix"}} {
		for i := 0; i < 5; i++ {
			out, errOut, err := runScript(t, sh, script, bin, []string{"ROOTFS_DRY_RUN=1", "LC_ALL=C.UTF-8"})
			if err != nil {
				t.Fatalf("%v: %v: %s", sh, err, errOut)
			}
			line := strings.TrimSuffix(out, "\n")
			for _, b := range []byte(line) {
				if b < 0x20 || b == 0x7f {
					t.Fatalf("%v LC_ALL=C.UTF-8: the dry run printed a raw control byte %#x: %q", sh, b, line)
				}
			}
			if !strings.HasSuffix(line, " /bin/echo "+want) {
				t.Fatalf("%v LC_ALL=C.UTF-8: the dry run shows the image's word as %q, want %q", sh, line[max(0, len(line)-40):], want)
			}
		}
	}
}
