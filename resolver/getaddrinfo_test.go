package resolver

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rootfs-pull/rootfs-pull/internal/dnstest"
)

// legacyNetd starts a stand-in netd of Android 7 to 9 (getaddrinfo, no
// resnsend) at c's socket.
func legacyNetd(t *testing.T, c Config, z dnstest.Zone) *dnstest.Netd {
	t.Helper()
	netd, err := dnstest.StartNetdMode(c.Socket, z, dnstest.NetdGetaddrinfo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(netd.Close)
	return netd
}

// Android 7 to 9: netd answers through getaddrinfo, one command per
// family, and resnsend is not asked again once netd said it does not
// know it.
func TestGetaddrinfoNetd(t *testing.T) {
	loop4b := netip.MustParseAddr("127.0.0.2")
	loop6 := netip.MustParseAddr("::1")
	a := "getaddrinfo " + testName + ". ^ 0 2 1 0 0"
	aaaa := "getaddrinfo " + testName + ". ^ 0 10 1 0 0"
	for _, tt := range []struct {
		name    string
		zone    []netip.Addr
		network string
		want    []netip.Addr
		cmds    []string // the getaddrinfo commands of one lookup
	}{
		{"both families", []netip.Addr{loop4, loop4b, loop6}, "ip", []netip.Addr{loop4, loop4b, loop6}, []string{a, aaaa}},
		{"IPv4 only", []netip.Addr{loop4, loop4b, loop6}, "ip4", []netip.Addr{loop4, loop4b}, []string{a}},
		{"IPv6 only", []netip.Addr{loop4, loop4b, loop6}, "ip6", []netip.Addr{loop6}, []string{aaaa}},
		// netd has no AAAA (EAI_NODATA): the A records still count
		{"name without IPv6", []netip.Addr{loop4}, "ip", []netip.Addr{loop4}, []string{a, aaaa}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := world(t)
			netd := legacyNetd(t, c, dnstest.Zone{testName: tt.zone})
			r := New(c)
			var lines []string
			r.Debug = func(l string) { lines = append(lines, l) }
			want := "netd (" + c.Socket + ", getaddrinfo)"
			first := 0
			for i := range 2 {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				addrs, err := r.LookupNetIP(ctx, tt.network, testName)
				cancel()
				if err != nil {
					t.Fatalf("lookup %d: %v", i+1, err)
				}
				if !sameAddrs(addrs, tt.want) {
					t.Errorf("lookup %d: got %v, want %v", i+1, addrs, tt.want)
				}
				if i == 0 {
					first = len(netd.Commands())
				}
			}
			if got := r.Answered(); len(got) != 1 || got[0] != want {
				t.Errorf("answered by %q, want %q", got, want)
			}
			if len(lines) != 2 || !strings.Contains(lines[0], want) {
				t.Errorf("debug lines %q, want two naming %q", lines, want)
			}
			if d := r.Describe(); !strings.Contains(d, want) {
				t.Errorf("Describe() = %q, want it to name %q", d, want)
			}
			var gai []string
			resnsend := 0
			for i, cmd := range netd.Commands() {
				switch {
				case cmd == "resnsend 0 0":
					resnsend++
					if i >= first {
						t.Errorf("resnsend asked again after netd said it does not know it: %q", netd.Commands())
					}
				case strings.HasPrefix(cmd, "getaddrinfo "):
					gai = append(gai, cmd)
				default:
					t.Errorf("netd got %q", cmd)
				}
			}
			if resnsend == 0 || resnsend > len(tt.cmds) {
				t.Errorf("resnsend asked %d times, want once or once per family at first", resnsend)
			}
			slices.Sort(gai)
			wantGai := append(slices.Clone(tt.cmds), tt.cmds...) // two lookups
			slices.Sort(wantGai)
			if !slices.Equal(gai, wantGai) {
				t.Errorf("getaddrinfo commands %q, want %q", gai, wantGai)
			}
		})
	}
}

// A name netd's getaddrinfo finds no address for is not asked elsewhere,
// as with resnsend.
func TestGetaddrinfoNotFoundIsFinal(t *testing.T) {
	d := dnsmasq(t)
	for _, tt := range []struct {
		name string
		eai  int
	}{
		{"no address (EAI_NODATA)", 0}, // an empty zone: what netd says for a name that does not exist
		{"EAI_NONAME", dnstest.EAINoname},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := world(t)
			netd := legacyNetd(t, c, dnstest.Zone{})
			netd.SetGetaddrinfoError(tt.eai)
			os.WriteFile(c.TermuxResolvConf, []byte("nameserver "+d.Addr+"\n"), 0644) // knows the name
			_, err := lookup(t, New(c), testName)
			var le *LookupError
			if !errors.As(err, &le) || !le.NotFound || !strings.Contains(err.Error(), "netd ("+c.Socket+", getaddrinfo)") {
				t.Fatalf("got %v, want no such host answered by netd through getaddrinfo", err)
			}
			var de *net.DNSError
			if !errors.As(err, &de) || !de.IsNotFound {
				t.Errorf("%v does not unwrap to a not-found *net.DNSError", err)
			}
			if h := le.Hint(); !strings.Contains(h, "check the name") || !strings.Contains(h, "ROOTFS_PULL_DNS") {
				t.Errorf("hint %q: want the name checked, and a way around an old netd that cannot reach its servers", h)
			}
		})
	}
}

// When netd's getaddrinfo fails, the next source answers.
func TestGetaddrinfoErrorFallsThrough(t *testing.T) {
	d := dnsmasq(t)
	for _, tt := range []struct {
		name  string
		eai   int
		reply string
	}{
		{name: "EAI_AGAIN", eai: dnstest.EAIAgain},
		{name: "EAI_FAIL", eai: dnstest.EAIFail},
		{name: "EAI_SYSTEM", eai: dnstest.EAISystem},
		{name: "a text refusal", reply: "501 Zero Balance: App is not in whitelist\x00"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := world(t)
			netd := legacyNetd(t, c, zone)
			netd.SetGetaddrinfoError(tt.eai)
			if tt.reply != "" {
				netd.SetGetaddrinfoReply([]byte(tt.reply), false)
			}
			if err := os.WriteFile(c.TermuxResolvConf, []byte("nameserver "+d.Addr+"\n"), 0644); err != nil {
				t.Fatal(err)
			}
			r := New(c)
			addrs, err := lookup(t, r, testName)
			if err != nil || !containsAddr(addrs, loop4) {
				t.Fatalf("got %v, %v", addrs, err)
			}
			if got := r.Answered(); len(got) != 1 || !strings.Contains(got[0], c.TermuxResolvConf) {
				t.Errorf("answered by %q, want the server from %s", got, c.TermuxResolvConf)
			}
			asked := false
			for _, cmd := range netd.Commands() {
				asked = asked || strings.HasPrefix(cmd, "getaddrinfo ")
			}
			if !asked {
				t.Errorf("netd was not asked getaddrinfo: %q", netd.Commands())
			}
		})
	}
}

// A broken or hostile netd's reply is an error, found in bounded time,
// never a panic or a wrong address.
func TestGetaddrinfoHostileReplies(t *testing.T) {
	for _, tt := range hostileReplies {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := world(t)
			c.Timeout = 300 * time.Millisecond // netd gets twice as long
			netd := legacyNetd(t, c, zone)
			netd.SetGetaddrinfoReply(tt.reply, tt.hold)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			addrs, err := New(c).LookupNetIP(ctx, "ip4", testName)
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("took %v", took)
			}
			var le *LookupError
			if !errors.As(err, &le) || le.NotFound {
				t.Fatalf("got %v, %v; want a failed lookup", addrs, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

// Queries other than A and AAAA go to the next source, and do not count
// against netd.
func TestGetaddrinfoOnlyAddresses(t *testing.T) {
	c, _ := world(t)
	netd := legacyNetd(t, c, zone)
	r := New(c)
	if _, err := lookup(t, r, testName); err != nil { // learns that netd speaks getaddrinfo
		t.Fatal(err)
	}
	before := len(netd.Commands())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := r.Go().LookupTXT(ctx, testName); err == nil || !strings.Contains(err.Error(), "only A and AAAA") {
		t.Errorf("TXT lookup: %v, want netd's getaddrinfo to pass it on", err)
	}
	if n := len(netd.Commands()); n != before {
		t.Errorf("netd was asked %q for a TXT query", netd.Commands()[before:])
	}
	r.mu.Lock()
	failed := len(r.failedAt)
	r.mu.Unlock()
	if failed != 0 {
		t.Errorf("a TXT query counted as netd failing")
	}
}

func sameAddrs(got, want []netip.Addr) bool {
	if len(got) != len(want) {
		return false
	}
	for _, a := range want {
		if !containsAddr(got, a) {
			return false
		}
	}
	return true
}
