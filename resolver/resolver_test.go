package resolver

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rootfs-pull/rootfs-pull/internal/dnstest"
)

const testName = "registry.phone.test"

var (
	loop4 = netip.MustParseAddr("127.0.0.1")
	zone  = dnstest.Zone{testName: {loop4, netip.MustParseAddr("::1")}}
)

// world is a host without a usable resolv.conf: paths in a temporary
// directory, nothing public to fall back to unless a test sets it.
func world(t *testing.T) (Config, string) {
	t.Helper()
	dir := t.TempDir()
	return Config{
		ResolvConf:       filepath.Join(dir, "resolv.conf"), // missing
		Socket:           filepath.Join(dir, "dnsproxyd"),   // missing
		TermuxResolvConf: filepath.Join(dir, "termux-resolv.conf"),
		Public:           []netip.AddrPort{},
		Timeout:          time.Second,
	}, dir
}

func lookup(t *testing.T, r *Resolver, host string) ([]netip.Addr, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return r.LookupNetIP(ctx, "ip", host)
}

func dnsmasq(t *testing.T) *dnstest.Dnsmasq {
	t.Helper()
	d, err := dnstest.StartDnsmasq(testName, []string{"127.0.0.1", "::1"}, time.Minute)
	if errors.Is(err, dnstest.ErrNoDnsmasq) {
		t.Skip("skipped: dnsmasq is not installed (scripts/setup.sh installs it)")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

func TestNetd(t *testing.T) {
	c, _ := world(t)
	netd, err := dnstest.StartNetd(c.Socket, zone)
	if err != nil {
		t.Fatal(err)
	}
	defer netd.Close()
	r := New(c)
	if r.IsSystem() {
		t.Fatal("a host without resolv.conf got the system's resolver")
	}
	var lines []string
	r.Debug = func(l string) { lines = append(lines, l) }
	addrs, err := lookup(t, r, testName)
	if err != nil {
		t.Fatal(err)
	}
	if !containsAddr(addrs, loop4) {
		t.Fatalf("got %v, want 127.0.0.1 among them", addrs)
	}
	want := "netd (" + c.Socket + ")"
	if got := r.Answered(); len(got) != 1 || got[0] != want {
		t.Errorf("answered by %q, want %q", got, want)
	}
	if len(lines) != 1 || !strings.Contains(lines[0], want) {
		t.Errorf("debug lines %q, want one naming %q", lines, want)
	}
	for _, cmd := range netd.Commands() {
		if cmd != "resnsend 0 0" {
			t.Errorf("netd got %q, want resnsend with netId 0 (NETID_UNSET) and flags 0", cmd)
		}
	}
	if netd.Queries() < 2 {
		t.Errorf("netd answered %d queries, want A and AAAA", netd.Queries())
	}
}

// A name netd says does not exist is not asked elsewhere: netd knows
// the phone's networks (a VPN's names) better than a public server.
func TestNetdNotFoundIsFinal(t *testing.T) {
	c, _ := world(t)
	netd, err := dnstest.StartNetd(c.Socket, dnstest.Zone{})
	if err != nil {
		t.Fatal(err)
	}
	defer netd.Close()
	d := dnsmasq(t)
	os.WriteFile(c.TermuxResolvConf, []byte("nameserver "+d.Addr+"\n"), 0644)
	_, err = lookup(t, New(c), testName)
	var le *LookupError
	if !errors.As(err, &le) || !le.NotFound || !strings.Contains(err.Error(), "netd") {
		t.Fatalf("got %v, want no such host answered by netd", err)
	}
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound {
		t.Errorf("%v does not unwrap to a not-found *net.DNSError", err)
	}
}

// A netd that knows neither resnsend nor getaddrinfo: the next source
// answers, and netd is not asked again.
func TestMuteNetdFallsThroughToTermux(t *testing.T) {
	c, _ := world(t)
	netd, err := dnstest.StartNetdMode(c.Socket, zone, dnstest.NetdNoDNS)
	if err != nil {
		t.Fatal(err)
	}
	defer netd.Close()
	d := dnsmasq(t)
	// Termux's file, with a port: rootfs-pull reads it, Go would not.
	if err := os.WriteFile(c.TermuxResolvConf, []byte("# termux\nnameserver "+d.Addr+"\n"), 0644); err != nil {
		t.Fatal(err)
	}
	r := New(c)
	first := 0
	for i := range 2 {
		addrs, err := lookup(t, r, testName)
		if err != nil {
			t.Fatal(err)
		}
		if !containsAddr(addrs, loop4) {
			t.Fatalf("got %v", addrs)
		}
		if i == 0 {
			first = len(netd.Commands()) // A and AAAA ask at once
		}
	}
	if got := r.Answered(); len(got) != 1 || !strings.Contains(got[0], c.TermuxResolvConf) {
		t.Errorf("answered by %q, want the server from %s", got, c.TermuxResolvConf)
	}
	if n := len(netd.Commands()); first == 0 || n != first {
		t.Errorf("netd without DNS commands was asked %d times in the first lookup, %d in all; want it left out after the first", first, n)
	}
}

// Forced servers replace every other source, even a usable resolv.conf.
func TestForcedServers(t *testing.T) {
	d := dnsmasq(t)
	c, dir := world(t)
	os.WriteFile(c.ResolvConf, []byte("nameserver 127.0.0.1\n"), 0644) // usable, but not asked
	t.Setenv(EnvServers, d.Addr)
	t.Setenv(EnvTestSocket, "")
	env, err := FromEnv(nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Servers = env.Servers
	r := New(c)
	if r.IsSystem() {
		t.Fatal("forced servers gave the system's resolver")
	}
	addrs, err := lookup(t, r, testName)
	if err != nil || !containsAddr(addrs, loop4) {
		t.Fatalf("got %v, %v", addrs, err)
	}
	if got := r.Answered(); len(got) != 1 || got[0] != d.Addr {
		t.Errorf("answered by %q, want %s", got, d.Addr)
	}
	_ = dir
}

// When nothing answers, the error says what was asked and what to do,
// and does not blame the network.
func TestNothingAnswers(t *testing.T) {
	c, _ := world(t)
	dead := deadPort(t)
	c.Public = []netip.AddrPort{dead}
	r := New(c)
	start := time.Now()
	_, err := lookup(t, r, testName)
	if time.Since(start) > 15*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	var le *LookupError
	if !errors.As(err, &le) {
		t.Fatalf("got %v, want a *LookupError", err)
	}
	msg := err.Error()
	for _, want := range []string{"netd (" + c.Socket + ")", dead.String()} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not name %q", msg, want)
		}
	}
	if h := le.Hint(); !strings.Contains(h, "ROOTFS_PULL_DNS") || strings.Contains(h, "check your network") {
		t.Errorf("hint %q", h)
	}
}

func TestSystemWhenUsable(t *testing.T) {
	c, _ := world(t)
	os.WriteFile(c.ResolvConf, []byte("search example.org\nnameserver 192.0.2.53\n"), 0644)
	if r := New(c); !r.IsSystem() || r.Describe() != System {
		t.Errorf("usable resolv.conf: %s", r.Describe())
	}
	for _, content := range []string{"", "# empty\nsearch example.org\n", "nameserver 127.0.0.1:5353\n", "nameserver bogus\n"} {
		os.WriteFile(c.ResolvConf, []byte(content), 0644)
		if New(c).IsSystem() {
			t.Errorf("resolv.conf %q counted as usable", content)
		}
	}
}

func TestParseServer(t *testing.T) {
	for _, tt := range []struct {
		in, want string
	}{
		{"1.1.1.1", "1.1.1.1:53"},
		{"127.0.0.1:5353", "127.0.0.1:5353"},
		{"2001:db8::1", "[2001:db8::1]:53"},
		{"[::1]:5353", "[::1]:5353"},
		{"::ffff:1.2.3.4", "1.2.3.4:53"},
		{"one.one", ""},
		{"1.1.1.1:0", ""},
		{"fe80::1%eth0", ""},
	} {
		got, err := ParseServer(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("%q: got %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("%q: got %v, %v, want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv(EnvServers, "9.9.9.9, 127.0.0.1:5353")
	t.Setenv("PREFIX", "/data/data/com.termux/files/usr2")
	t.Setenv(EnvTestSocket, "")
	c, err := FromEnv(nil)
	if err != nil || len(c.Servers) != 2 || c.Servers[1].Port() != 5353 {
		t.Fatalf("env: %v, %v", c.Servers, err)
	}
	if c.TermuxResolvConf != "/data/data/com.termux/files/usr2/etc/resolv.conf" {
		t.Errorf("termux file %s", c.TermuxResolvConf)
	}
	if c, _ := FromEnv([]string{"8.8.8.8"}); len(c.Servers) != 1 || c.Servers[0].String() != "8.8.8.8:53" {
		t.Errorf("the flag does not replace the environment: %v", c.Servers)
	}
	if _, err := FromEnv([]string{"one.one"}); err == nil || !strings.Contains(err.Error(), "--dns-server") {
		t.Errorf("bad flag: %v", err)
	}
	t.Setenv(EnvServers, "nope")
	if _, err := FromEnv(nil); err == nil || !strings.Contains(err.Error(), EnvServers) {
		t.Errorf("bad env: %v", err)
	}
	t.Setenv("PREFIX", "relative")
	if got := TermuxResolvConf(); got != TermuxPrefix+"/etc/resolv.conf" {
		t.Errorf("relative PREFIX: %s", got)
	}
}

func TestContainerServers(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "resolv.conf")
	if got := ContainerServers(f); strings.Join(got, " ") != "1.1.1.1 8.8.8.8" {
		t.Errorf("no Termux file: %v", got)
	}
	os.WriteFile(f, []byte("nameserver 192.0.2.1\nnameserver 127.0.0.1:5353\nnameserver 2001:db8::1\n"), 0644)
	if got := ContainerServers(f); strings.Join(got, " ") != "192.0.2.1 2001:db8::1" {
		t.Errorf("Termux file: %v", got)
	}
}

func containsAddr(addrs []netip.Addr, a netip.Addr) bool {
	for _, x := range addrs {
		if x.Unmap() == a {
			return true
		}
	}
	return false
}

// deadPort is a loopback UDP port nothing listens on.
func deadPort(t *testing.T) netip.AddrPort {
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := l.LocalAddr().(*net.UDPAddr).AddrPort()
	l.Close()
	return ap
}
