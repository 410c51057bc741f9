package resolver

import (
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// A server may answer with as many addresses as a UDP message holds
// (thousands): the --debug line stays one readable line.
func TestReviewDebugLineBounded(t *testing.T) {
	c, _ := world(t)
	s := startFakeUDP(t, func(q []byte) [][]byte {
		var p dnsmessage.Parser
		h, err := p.Start(q)
		if err != nil {
			return nil
		}
		qq, _ := p.Question()
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RecursionAvailable: true})
		b.EnableCompression()
		b.StartQuestions()
		b.Question(qq)
		b.StartAnswers()
		if qq.Type == dnsmessage.TypeA {
			for i := range 2000 {
				b.AResource(dnsmessage.ResourceHeader{Name: qq.Name, Class: dnsmessage.ClassINET, TTL: 60},
					dnsmessage.AResource{A: [4]byte{10, 0, byte(i >> 8), byte(i)}})
			}
		}
		a, _ := b.Finish()
		return [][]byte{a}
	})
	c.Servers = []netip.AddrPort{s.Addr}
	r := New(c)
	var lines []string
	r.Debug = func(l string) { lines = append(lines, l) }
	addrs, err := lookup(t, r, testName)
	if err != nil || len(addrs) < 1000 {
		t.Fatalf("got %d addresses, %v", len(addrs), err)
	}
	if len(lines) != 1 || len(lines[0]) > 400 || strings.Contains(lines[0], "\n") {
		t.Errorf("debug line of %d bytes", len(strings.Join(lines, "")))
	}
}
