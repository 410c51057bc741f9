package androidsim

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// probeEnv hands the probe, built outside the world, to the test inside.
const probeEnv = "ANDROIDSIM_TEST_PROBE"

// TestWorld checks the world is the phone it claims to be: no
// /etc/resolv.conf, no /bin/sh, a read-only /tmp, loopback only, Termux's
// and Android's paths; a static Go program run as the app is the app's
// uid under Android's policy (a forbidden syscall is SIGSYS, a hard link
// EACCES); a host program runs as the app with links denied; su's runs are
// root without a filter.
func TestWorld(t *testing.T) {
	if !InWorld() {
		if os.Geteuid() != 0 {
			t.Skip("skipped: the Android world needs root (namespaces, an app uid); CI runs it as root")
		}
		RunInWorld(t, 5*time.Minute, probeEnv+"="+buildProbe(t))
		return
	}
	w := NewWorld(t)
	if b, err := os.ReadFile("/etc/resolv.conf"); err == nil && len(b) > 0 {
		t.Errorf("/etc/resolv.conf holds %q: Android has none", b)
	}
	if err := exec.Command("/bin/sh", "-c", "true").Run(); err == nil {
		t.Errorf("/bin/sh runs: Android has none")
	}
	if err := os.WriteFile("/tmp/x", nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Errorf("writing /tmp: %v, want EROFS", err)
	}
	ifs, err := net.Interfaces()
	if err != nil || len(ifs) != 1 || ifs[0].Name != "lo" || ifs[0].Flags&net.FlagUp == 0 {
		t.Errorf("interfaces %v (%v), want lo only, up", ifs, err)
	}
	for _, p := range []string{w.Prefix + "/bin/sh", w.Prefix + "/bin/proot", "/system/bin/sh", "/system/bin/chroot", "/system/build.prop", "/dev/socket", "/dev/null"} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}

	probe := os.Getenv(probeEnv)
	run := func(r Run) Result {
		t.Helper()
		r.Env = append(append([]string(nil), w.Env...), r.Env...)
		return w.Exec(t, r)
	}
	r := run(Run{Argv: []string{probe}})
	if !strings.Contains(r.Stdout, "uid=10123 seccomp=2 cwd="+w.Home) {
		t.Errorf("the app's run: %q %q, want the app's uid, a filter, $HOME", r.Stdout, r.Stderr)
	}
	r = run(Run{Argv: []string{probe}, Env: []string{callEnv + "=chroot"}})
	if !r.SIGSYS {
		t.Errorf("chroot(2) as the app: %d %q %q, want SIGSYS", r.Code, r.Stdout, r.Stderr)
	}
	r = run(Run{Argv: []string{probe}, Env: []string{callEnv + "=linkat", "TMPDIR=" + w.TmpDir}})
	if !strings.Contains(r.Stdout, "linkat errno=13") {
		t.Errorf("linkat(2) as the app: %d %q %q, want EACCES", r.Code, r.Stdout, r.Stderr)
	}
	r = run(Run{Argv: []string{"id", "-u"}})
	if r.Code != 0 || r.Stdout != "10123\n" {
		t.Errorf("a host program as the app: %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	r = run(Run{Argv: []string{"ln", w.Prefix + "/bin/dash", w.TmpDir + "/hard"}})
	if r.Code == 0 || !strings.Contains(r.Stderr, "denied") {
		t.Errorf("a hard link by a host program as the app: %d %q, want permission denied", r.Code, r.Stderr)
	}
	r = w.Exec(t, Run{Argv: []string{probe}, Env: w.RootEnv(), Root: true})
	if !strings.Contains(r.Stdout, "uid=0 seccomp=0") {
		t.Errorf("su's run: %q %q, want root without a filter", r.Stdout, r.Stderr)
	}
}
