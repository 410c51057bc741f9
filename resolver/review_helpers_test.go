package resolver

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Stand-ins for hostile peers, used by the review_*_test.go files: each
// runs in process on 127.0.0.1 or a unix socket in t.TempDir(), and is
// shut down by t.Cleanup.

// fakeUDP answers each query it receives with what handle returns (any
// number of datagrams, possibly none), and counts the queries.
type fakeUDP struct {
	Addr    netip.AddrPort
	queries atomic.Int32
}

func startFakeUDP(t *testing.T, handle func(q []byte) [][]byte) *fakeUDP {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	f := &fakeUDP{Addr: netip.MustParseAddrPort(pc.LocalAddr().String())}
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			f.queries.Add(1)
			q := append([]byte(nil), buf[:n]...)
			go func() {
				for _, a := range handle(q) {
					pc.WriteTo(a, from)
				}
			}()
		}
	}()
	return f
}

// Queries is how many queries f received.
func (f *fakeUDP) Queries() int { return int(f.queries.Load()) }

// zoneAnswer is zone's answer to q, nothing when q is not a query.
func zoneAnswer(q []byte) [][]byte {
	ans, _, err := zone.Answer(q)
	if err != nil {
		return nil
	}
	return [][]byte{ans}
}

// goodServer answers from zone over UDP, after delay.
func goodServer(t *testing.T, delay time.Duration) *fakeUDP {
	return startFakeUDP(t, func(q []byte) [][]byte {
		time.Sleep(delay)
		return zoneAnswer(q)
	})
}

// fakeNetd is a unix-socket peer at path that reads one NUL-ended
// command and hands it, with the connection, to handle.
func startFakeNetd(t *testing.T, path string, handle func(c net.Conn, cmd string)) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				buf := make([]byte, 1024)
				n, err := c.Read(buf)
				if err != nil || n == 0 {
					return
				}
				cmd, _, _ := bytes.Cut(buf[:n], []byte{0})
				handle(c, string(cmd))
			}()
		}
	}()
}

// resnsendQuery is the DNS query of a resnsend command, nil for another
// command.
func resnsendQuery(cmd string) []byte {
	f := strings.Fields(cmd)
	if len(f) != 4 || f[0] != "resnsend" {
		return nil
	}
	q, _ := base64.StdEncoding.DecodeString(f[3])
	return q
}

// writeResnsend sends ans as netd's resnsend answer.
func writeResnsend(c net.Conn, ans []byte) {
	out := binary.BigEndian.AppendUint32(nil, uint32(ans[3]&0x0f))
	out = binary.BigEndian.AppendUint32(out, uint32(len(ans)))
	c.Write(append(out, ans...))
}

// queryType is q's question type (0 when q does not parse).
func queryType(q []byte) dnsmessage.Type {
	var p dnsmessage.Parser
	if _, err := p.Start(q); err != nil {
		return 0
	}
	qq, err := p.Question()
	if err != nil {
		return 0
	}
	return qq.Type
}

// withRCode is ans with its rcode set to rc and its answers dropped.
func withRCode(t *testing.T, q []byte, rc dnsmessage.RCode) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		return nil
	}
	qq, err := p.Question()
	if err != nil {
		return nil
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true, RCode: rc})
	b.StartQuestions()
	b.Question(qq)
	ans, err := b.Finish()
	if err != nil {
		t.Error(err)
	}
	return ans
}
