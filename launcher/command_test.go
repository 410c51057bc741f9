package launcher

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func testConfig() Config {
	return Config{
		Image: "demo", Entrypoint: []string{"/bin/app"}, Cmd: []string{"serve", "--port=80"},
		Env:        []string{"PATH=/usr/bin:/bin", "MSG=a b", "HOME=/home/app"},
		WorkingDir: "/srv", User: User{Name: "app", UID: 1000, GID: 1000, Groups: []int{27}, Home: "/home/app"},
		Runtime: Auto,
	}
}

// The raw command lines, exactly: what users who run the runtimes
// themselves copy, and (for ruri, which CI cannot run) the proof of what
// the launcher hands it.
func TestCommand(t *testing.T) {
	cfg := testConfig()
	tests := []struct {
		runtime string
		args    []string
		want    []string
	}{
		{Ruri, nil, []string{"ruri", "-N", "-W", "/srv", "-e", "PATH", "/usr/bin:/bin", "-e", "MSG", "a b", "-e", "HOME", "/home/app",
			"-E", "1000", "/r/fs", "/bin/app", "serve", "--port=80"}},
		{Proot, []string{"sh"}, []string{"env", "-i", "--", "PATH=/usr/bin:/bin", "MSG=a b", "HOME=/home/app",
			hostPath("proot"), "-i", "1000:1000", "-r", "/r/fs", "-b", "/dev", "-b", "/proc", "-b", "/sys", "-b", "/dev/urandom:/dev/random",
			"-b", "/proc/self/fd:/dev/fd", "-w", "/srv", "-b", "/r/fs/tmp:/dev/shm", "/bin/app", "sh"}},
		{Chroot, []string{}, []string{"env", "-i", "--", "PATH=/usr/bin:/bin", "MSG=a b", "HOME=/home/app",
			hostPath("chroot"), "--userspec=+1000:+1000", "--groups=+1000,+27", "/r/fs", "/bin/sh", "-c", `cd "$0" && exec "$@"`, "/srv", "/bin/app"}},
	}
	for _, tt := range tests {
		t.Run(tt.runtime, func(t *testing.T) {
			if got, err := Command(tt.runtime, "/r/fs", cfg, tt.args); err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("got  %q, %v\nwant %q", got, err, tt.want)
			}
		})
	}
}

// The launcher hands ruri the same line (ruri itself is not in Debian).
func TestScriptRuriLine(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.Runtime = Ruri
	script := dir + "/start-fs.sh"
	if err := Write(script, dir+"/fs", cfg); err != nil {
		t.Fatal(err)
	}
	mkReady(t, dir+"/fs")
	out, err := exec.Command("env", "-u", "TERM", "ROOTFS_DRY_RUN=1", script, "-e", "X=1 2", "ls", "-l").Output()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	got := evalWords(t, string(out))
	want := []string{"ruri", "-N", "-W", "/srv", "-e", "PATH", "/usr/bin:/bin", "-e", "MSG", "a b", "-e", "HOME", "/home/app",
		"-E", "1000", "-e", "X", "1 2", dir + "/fs", "/bin/app", "ls", "-l"}
	if len(got) > 0 && strings.HasSuffix(got[0], "/ruri") {
		got[0] = "ruri"
	}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// Quote and the script's own quoting survive any bytes a shell can hold.
func TestQuoteRoundTrip(t *testing.T) {
	args := []string{"", "plain", "two words", "it's", `"dq"`, "$HOME", "`cmd`", "a\nb", "trailing\n", "\\", "*", "-e", "\t"}
	out, err := exec.Command("sh", "-c", `for a in `+QuoteArgs(args)+`; do printf '%s\0' "$a"; done`).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00"); !slices.Equal(got, args) {
		t.Errorf("got %q", got)
	}
}

func evalWords(t *testing.T, line string) []string {
	t.Helper()
	out, err := exec.Command("sh", "-c", `eval "set -- $1"; for a; do printf '%s\0' "$a"; done`, "sh", line).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}

func mkReady(t *testing.T, dir string) {
	t.Helper()
	if out, err := exec.Command("mkdir", "-p", dir+"/.rootfs-pull").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if out, err := exec.Command("sh", "-c", `printf '{"status": "ready"}' > "$1/.rootfs-pull/state.json"`, "sh", dir).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}

// An image's config is not trusted: a newline in its platform or name
// must not turn into a command in the launcher (it would run on the host,
// outside any container).
func TestScriptInjection(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	marker := dir + "/pwned"
	evil := "v1\ntouch " + marker + " #"
	cfg.Platform = "linux/arm64/" + evil
	cfg.Image = "img\n" + "touch " + marker
	cfg.Digest = "sha256:x\ntouch " + marker
	cfg.Runtime = Proot
	script := dir + "/start-fs.sh"
	if err := Write(script, dir+"/fs", cfg); err != nil {
		t.Fatal(err)
	}
	mkReady(t, dir+"/fs")
	for _, args := range [][]string{{"--help"}, {"true"}} {
		exec.Command("env", append([]string{"ROOTFS_DRY_RUN=1", script}, args...)...).Run()
	}
	if out, err := exec.Command("sh", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("sh -n: %v %s", err, out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a value from the image config ran as a command on the host")
	}
}

// An empty word in the runtime's fixed line (an image's FOO=, which ruri
// gets as -e FOO "") is passed as one: the launcher wrote "q" without an
// argument, and under set -u every shell stopped at it.
func TestScriptEmptyWord(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.Env = append(cfg.Env, "EMPTY=")
	script := dir + "/start-fs.sh"
	if err := Write(script, dir+"/fs", cfg); err != nil {
		t.Fatal(err)
	}
	mkReady(t, dir+"/fs")
	for _, sh := range shells(t) {
		out, err := exec.Command("env", append(append([]string{"-u", "TERM", "ROOTFS_RUNTIME=ruri", "ROOTFS_DRY_RUN=1"}, sh...), script)...).Output()
		if err != nil {
			t.Fatalf("%s: %v: %s", sh[0], err, err.(*exec.ExitError).Stderr)
		}
		if got := evalWords(t, string(out)); !slices.Contains(got, "EMPTY") || got[slices.Index(got, "EMPTY")+1] != "" {
			t.Errorf("%s: ruri line %q, want -e EMPTY ''", sh[0], got)
		}
	}
}
