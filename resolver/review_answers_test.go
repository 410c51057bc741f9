package resolver

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// answerFor is an answer, with q's ID, to the question name (type and
// class q's), holding addr.
func answerFor(t *testing.T, q []byte, name string, addr netip.Addr) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		return nil
	}
	qq, err := p.Question()
	if err != nil {
		return nil
	}
	qq.Name = dnsmessage.MustNewName(name)
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RecursionAvailable: true})
	b.StartQuestions()
	b.Question(qq)
	b.StartAnswers()
	rh := dnsmessage.ResourceHeader{Name: qq.Name, Class: dnsmessage.ClassINET, TTL: 60}
	if qq.Type == dnsmessage.TypeA && addr.Is4() {
		b.AResource(rh, dnsmessage.AResource{A: addr.As4()})
	}
	ans, err := b.Finish()
	if err != nil {
		t.Error(err)
	}
	return ans
}

// A first source that sends something Go's resolver will throw away
// (an answer to another question, an rcode that is neither success nor
// "no such name", a lame referral, a header alone) has not answered:
// the next source must be asked. Before, the chain stopped at the first
// source, Go rejected its answer, asked the chain again (the same first
// source), and the lookup failed though a later source would have
// answered: one broken or hostile server (a captive portal's, an
// on-path spoofer that knows the ID) disabled every fallback.
func TestReviewUnusableAnswerFallsThrough(t *testing.T) {
	other := netip.MustParseAddr("192.0.2.66")
	for _, tt := range []struct {
		name string
		bad  func(t *testing.T, q []byte) [][]byte
	}{
		{"another question", func(t *testing.T, q []byte) [][]byte {
			return [][]byte{answerFor(t, q, "elsewhere.test.", other)}
		}},
		{"NOTIMP", func(t *testing.T, q []byte) [][]byte {
			return [][]byte{withRCode(t, q, dnsmessage.RCodeNotImplemented)}
		}},
		{"FORMERR", func(t *testing.T, q []byte) [][]byte {
			return [][]byte{withRCode(t, q, dnsmessage.RCodeFormatError)}
		}},
		{"lame referral", func(t *testing.T, q []byte) [][]byte {
			a := withRCode(t, q, dnsmessage.RCodeSuccess)
			a[3] &^= 0x80 // RA clear, AA clear, no records
			return [][]byte{a}
		}},
		{"header only", func(t *testing.T, q []byte) [][]byte {
			return [][]byte{{q[0], q[1], 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0}}
		}},
		{"two questions", func(t *testing.T, q []byte) [][]byte {
			a := zoneAnswer(q)
			if a == nil {
				return nil
			}
			// QDCOUNT 2: Go's resolver refuses it (errInvalidDNSResponse).
			binary.BigEndian.PutUint16(a[0][4:], 2)
			return a
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := world(t)
			bad := startFakeUDP(t, func(q []byte) [][]byte { return tt.bad(t, q) })
			good := goodServer(t, 0)
			c.Servers = []netip.AddrPort{bad.Addr, good.Addr}
			r := New(c)
			start := time.Now()
			addrs, err := lookup(t, r, testName)
			if err != nil || !containsAddr(addrs, loop4) || containsAddr(addrs, other) {
				t.Fatalf("got %v, %v; want 127.0.0.1 from %s", addrs, err, good.Addr)
			}
			if got := r.Answered(); len(got) != 1 || got[0] != good.Addr.String() {
				t.Errorf("answered by %q, want %s", got, good.Addr)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// Over UDP, a datagram with the query's ID that is not the answer to
// the question (sent first, by whoever knows or guesses the ID) is
// skipped, as Go's own resolver does, and the real answer, which comes
// next, is taken.
func TestReviewUDPSkipsAnswerToAnotherQuestion(t *testing.T) {
	c, _ := world(t)
	other := netip.MustParseAddr("192.0.2.66")
	s := startFakeUDP(t, func(q []byte) [][]byte {
		a := zoneAnswer(q)
		if a == nil {
			return nil
		}
		return [][]byte{answerFor(t, q, "elsewhere.test.", other), a[0]}
	})
	c.Servers = []netip.AddrPort{s.Addr}
	addrs, err := lookup(t, New(c), testName)
	if err != nil || !containsAddr(addrs, loop4) {
		t.Fatalf("got %v, %v", addrs, err)
	}
}

// A TCP answer that still says it is truncated cannot be used (Go then
// asks again over "tcp", the same chain): the next source is asked.
func TestReviewTruncatedOverTCPFallsThrough(t *testing.T) {
	c, _ := world(t)
	// UDP and TCP on one port: UDP says "truncated", TCP too.
	var udp net.PacketConn
	var tcp net.Listener
	for range 20 {
		var err error
		udp, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		tcp, err = net.Listen("tcp", udp.LocalAddr().String())
		if err == nil {
			break
		}
		udp.Close()
		udp = nil
	}
	if udp == nil {
		t.Skip("no port free for both UDP and TCP")
	}
	t.Cleanup(func() { udp.Close(); tcp.Close() })
	tc := func(q []byte) []byte {
		a := withRCode(t, q, dnsmessage.RCodeSuccess)
		if a != nil {
			a[2] |= 0x02
		}
		return a
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := udp.ReadFrom(buf)
			if err != nil {
				return
			}
			if a := tc(buf[:n]); a != nil {
				udp.WriteTo(a, from)
			}
		}
	}()
	go func() {
		for {
			conn, err := tcp.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(5 * time.Second))
				var l [2]byte
				if _, err := conn.Read(l[:]); err != nil {
					return
				}
				q := make([]byte, binary.BigEndian.Uint16(l[:]))
				if _, err := conn.Read(q); err != nil {
					return
				}
				a := tc(q)
				conn.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(a))), a...))
			}()
		}
	}()
	good := goodServer(t, 0)
	c.Servers = []netip.AddrPort{netip.MustParseAddrPort(udp.LocalAddr().String()), good.Addr}
	r := New(c)
	addrs, err := lookup(t, r, testName)
	if err != nil || !containsAddr(addrs, loop4) {
		t.Fatalf("got %v, %v", addrs, err)
	}
	if got := r.Answered(); len(got) != 1 || got[0] != good.Addr.String() {
		t.Errorf("answered by %q, want %s", got, good.Addr)
	}
}

// Whatever bytes a source returns, the chain passes on only an answer
// Go's resolver takes: a response, the query's ID, the query's one
// question, no truncation, rcode success or "no such name". Anything
// else is that source's failure, so the next source is asked.
func FuzzReviewExchangeAnswer(f *testing.F) {
	q := queryFor(f, testName+".", dnsmessage.TypeA)
	good, _, _ := zone.Answer(q)
	f.Add(good)
	f.Add(append([]byte{q[0], q[1]}, good[2:]...))
	f.Add([]byte{q[0], q[1], 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{q[0], q[1], 0x81, 0x84, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, ans []byte) {
		r := &Resolver{failedAt: map[*source]time.Time{}}
		r.sources = []*source{{name: "hostile", timeout: time.Second, exchange: func(context.Context, []byte) ([]byte, error) {
			if len(ans) < 12 { // every source returns at least a header
				return append(ans, make([]byte, 12-len(ans))...), nil
			}
			return ans, nil
		}}}
		got, err := r.exchange(context.Background(), q)
		if err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(got)
		if err != nil {
			t.Fatalf("passed on an answer whose header does not parse: %v", err)
		}
		qq, err := p.Question()
		if err != nil {
			t.Fatalf("passed on an answer without a question: %v", err)
		}
		if _, err := p.Question(); err != dnsmessage.ErrSectionDone {
			t.Fatalf("passed on an answer with more than one question")
		}
		if !h.Response || h.ID != binary.BigEndian.Uint16(q) || h.Truncated {
			t.Fatalf("passed on %+v", h)
		}
		if !strings.EqualFold(qq.Name.String(), testName+".") || qq.Type != dnsmessage.TypeA || qq.Class != dnsmessage.ClassINET {
			t.Fatalf("passed on an answer to %v", qq)
		}
		if h.RCode != dnsmessage.RCodeSuccess && h.RCode != dnsmessage.RCodeNameError {
			t.Fatalf("passed on rcode %v", h.RCode)
		}
	})
}

// queryFor is a query for name's records of type typ, as Go sends it.
func queryFor(tb testing.TB, name string, typ dnsmessage.Type) []byte {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 0x1234, RecursionDesired: true})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET})
	q, err := b.Finish()
	if err != nil {
		tb.Fatal(err)
	}
	return q
}
