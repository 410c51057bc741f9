package resolver

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Go asks A and AAAA at once. When netd gives the AAAA answer (no
// address) but fails the A query, which the next source answers, the
// addresses come from that source: the report must name it, not only
// whichever source answered first.
func TestReviewAddressesNameTheirSource(t *testing.T) {
	c, _ := world(t)
	startFakeNetd(t, c.Socket, func(conn net.Conn, cmd string) {
		q := resnsendQuery(cmd)
		if q == nil {
			return
		}
		switch queryType(q) {
		case dnsmessage.TypeAAAA:
			writeResnsend(conn, withRCode(t, q, dnsmessage.RCodeSuccess)) // no AAAA
		case dnsmessage.TypeA:
			writeResnsend(conn, withRCode(t, q, dnsmessage.RCodeServerFailure))
		}
	})
	termux := goodServer(t, 300*time.Millisecond)
	if err := os.WriteFile(c.TermuxResolvConf, []byte("nameserver "+termux.Addr.String()+"\n"), 0644); err != nil {
		t.Fatal(err)
	}
	r := New(c)
	var lines []string
	r.Debug = func(l string) { lines = append(lines, l) }
	addrs, err := lookup(t, r, testName)
	if err != nil || !containsAddr(addrs, loop4) {
		t.Fatalf("got %v, %v", addrs, err)
	}
	if len(lines) != 1 || !strings.Contains(lines[0], termux.Addr.String()) {
		t.Errorf("debug %q: the addresses came from %s, which it does not name", lines, termux.Addr)
	}
	found := false
	for _, a := range r.Answered() {
		found = found || strings.Contains(a, termux.Addr.String())
	}
	if !found {
		t.Errorf("Answered() = %q, without %s, which gave the addresses", r.Answered(), termux.Addr)
	}
}
