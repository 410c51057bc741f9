package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

// TestReviewRestoreDefaultsNeedOptIn: the launcher reads its defaults
// file as options before its own arguments, so an export archive's
// defaults decide how the host starts the container: a friend's (or a
// download's) "--shared-home" or "-v /:/host" hands the container the
// user's home or the host's whole filesystem the first time the user
// types start-NAME.sh, without ever having asked for it. A restore
// installed them silently. It must not without --restore-defaults: it
// shows them (escaped) and says how to install them; with the flag they
// are installed as they were.
func TestReviewRestoreDefaultsNeedOptIn(t *testing.T) {
	work := t.TempDir()
	env := []string{"XDG_DATA_HOME=" + filepath.Join(work, "data")}
	dir := filepath.Join(work, "a")
	if r := runCLIEnv(t, env, "-q", miniTarball(t, work), dir); r.code != 0 {
		t.Fatal(r.stderr)
	}
	hostile := "--shared-home\n-v /:/host\n-e X=\x1b]2;owned\x07\n"
	if err := os.WriteFile(filepath.Join(work, "start-a.defaults"), []byte(hostile), 0644); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(work, "a.tar.gz")
	if r := runCLIEnv(t, env, "export", "-q", dir, backup); r.code != 0 {
		t.Fatal(r.stderr)
	}

	r := runCLIEnv(t, env, backup, filepath.Join(work, "b"))
	if r.code != 0 {
		t.Fatalf("restore: %d %s", r.code, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(work, "start-b.defaults")); err == nil {
		t.Errorf("a restore installed the archive's launcher defaults without being asked:\n%s", b)
	}
	for _, want := range []string{"--shared-home", "-v /:/host", "--restore-defaults"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not show %q: %q", want, r.stderr)
		}
	}
	if strings.ContainsAny(r.stdout+r.stderr, "\x1b\x07") {
		t.Errorf("the archive's text reached the terminal raw: %q %q", r.stdout, r.stderr)
	}

	r = runCLIEnv(t, env, "--restore-defaults", backup, filepath.Join(work, "c"))
	if r.code != 0 {
		t.Fatalf("restore --restore-defaults: %d %s", r.code, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(work, "start-c.defaults")); err != nil || string(b) != hostile {
		t.Errorf("--restore-defaults: %q, %v", b, err)
	}
	if strings.ContainsAny(r.stdout+r.stderr, "\x1b\x07") {
		t.Errorf("the archive's text reached the terminal raw: %q %q", r.stdout, r.stderr)
	}
	// The flag is for an export archive only.
	oneErrorLine(t, runCLIEnv(t, env, "--restore-defaults", miniTarball(t, work), filepath.Join(work, "d")), exitUsage, "--restore-defaults")
}

// TestReviewStateTextEscaped: DIR/.rootfs-pull/state.json is written by
// whatever runs in the container, and an export archive's state by
// whoever made the archive. ls printed the state's platform and status
// raw, export printed the platform raw, and a restore printed the
// archive's image name raw: an escape sequence there drives the user's
// terminal (retitles it, clears it, hides lines).
func TestReviewStateTextEscaped(t *testing.T) {
	work := t.TempDir()
	env := []string{"XDG_DATA_HOME=" + filepath.Join(work, "data")}
	dir := filepath.Join(work, "a")
	if r := runCLIEnv(t, env, "-q", miniTarball(t, work), dir); r.code != 0 {
		t.Fatal(r.stderr)
	}
	st, err := rootfs.LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	// What a process in the container (or an archive's maker) can write.
	st.Image = "evil\x1b]2;owned\x07"
	st.Platform = "linux/amd64\x1b[2J"
	if err := st.Save(dir); err != nil {
		t.Fatal(err)
	}
	raw := func(what string, r result) {
		t.Helper()
		if strings.ContainsAny(r.stdout+r.stderr, "\x1b\x07") {
			t.Errorf("%s: the state's text reached the terminal raw:\nstdout %q\nstderr %q", what, r.stdout, r.stderr)
		}
	}
	raw("ls", runCLIEnv(t, env, "ls"))
	backup := filepath.Join(work, "a.tar")
	r := runCLIEnv(t, env, "export", dir, backup)
	if r.code != 0 {
		t.Fatal(r.stderr)
	}
	raw("export", r)
	raw("restore", runCLIEnv(t, env, backup, filepath.Join(work, "b")))
	raw("ls after restore", runCLIEnv(t, env, "ls"))
}
