package resolver

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
)

// The places in source names come from the environment ($PREFIX, the
// test socket): they go to --debug lines ("asking ...", "answered by
// ...") printed as they are, so they must not carry control or bidi
// characters to the terminal.
func TestReviewSourceNamesSafe(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "usr\x1b]0;owned\x07\u202e")
	if err := os.MkdirAll(filepath.Join(prefix, "etc"), 0755); err != nil {
		t.Fatal(err)
	}
	good := goodServer(t, 0)
	dead := deadPort(t)
	os.WriteFile(filepath.Join(prefix, "etc", "resolv.conf"), []byte("nameserver "+dead.String()+"\nnameserver "+good.Addr.String()+"\n"), 0644)
	t.Setenv("PREFIX", prefix)
	t.Setenv(EnvTestSocket, filepath.Join(t.TempDir(), "sock\x1b[2J"))
	t.Setenv(EnvServers, "")
	c, err := FromEnv(nil)
	if err != nil {
		t.Fatal(err)
	}
	c.ResolvConf = filepath.Join(t.TempDir(), "missing")
	c.Public = []netip.AddrPort{}
	r := New(c)
	if d := r.Describe(); !safetext.Safe(d) {
		t.Errorf("Describe: %q", d)
	}
	var lines []string
	r.Debug = func(l string) { lines = append(lines, l) }
	if _, err := lookup(t, r, testName); err != nil {
		t.Fatal(err)
	}
	for _, l := range append(lines, r.Answered()...) {
		if !safetext.Safe(l) {
			t.Errorf("debug line or source %q", l)
		}
	}
	os.WriteFile(filepath.Join(prefix, "etc", "resolv.conf"), []byte("nameserver "+dead.String()+"\n"), 0644)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = New(c).LookupNetIP(ctx, "ip", testName)
	if err == nil {
		t.Fatal("answered")
	}
	if !safetext.Safe(err.Error()) {
		t.Errorf("error: %q", err)
	}
}
