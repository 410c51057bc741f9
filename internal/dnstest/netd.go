// Package dnstest runs DNS servers for tests: a stand-in for Android's
// netd on a unix socket, speaking resnsend as netd does (no real netd
// exists off Android), and the real dnsmasq on a loopback port.
package dnstest

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Zone maps names (lower case, no final dot) to their addresses.
type Zone map[string][]netip.Addr

// Netd is a stand-in for Android's netd DNS proxy (/dev/socket/dnsproxyd).
// It speaks what DnsResolver's DnsProxyListener does for resnsend: one
// NUL-terminated command "resnsend <netId> <flags> <base64 query>" read in
// one read of at most 1024 bytes; a big-endian int32 -errno, or the rcode
// followed by a big-endian int32 length and the raw answer. A command it
// does not know gets FrameworkListener's "500 Command not recognized".
type Netd struct {
	Path string
	// Legacy answers like Android 9 and older: resnsend is not a command.
	Legacy bool

	ln    net.Listener
	zone  Zone
	wg    sync.WaitGroup
	mu    sync.Mutex
	cmds  []string
	count int
}

// StartNetd listens on path and answers from zone.
func StartNetd(path string, zone Zone) (*Netd, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	n := &Netd{Path: path, ln: ln, zone: zone}
	n.wg.Add(1)
	go n.serve()
	return n, nil
}

// Close stops the server and waits for its connections.
func (n *Netd) Close() {
	n.ln.Close()
	n.wg.Wait()
}

// Commands are the commands received, their queries left out.
func (n *Netd) Commands() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.cmds...)
}

// Queries is how many resnsend commands were answered.
func (n *Netd) Queries() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.count
}

func (n *Netd) serve() {
	defer n.wg.Done()
	for {
		c, err := n.ln.Accept()
		if err != nil {
			return
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			n.handle(c)
		}()
	}
}

func (n *Netd) handle(c net.Conn) {
	buf := make([]byte, 1024) // FrameworkListener's CMD_BUF_SIZE, one read
	l, err := c.Read(buf)
	if err != nil || l == 0 {
		return
	}
	if buf[l-1] != 0 {
		c.Write([]byte("500 Command too large for buffer\x00"))
		return
	}
	argv := strings.Split(string(buf[:bytes.IndexByte(buf, 0)]), " ")
	n.mu.Lock()
	if len(argv) == 4 {
		n.cmds = append(n.cmds, strings.Join(argv[:3], " "))
	} else {
		n.cmds = append(n.cmds, strings.Join(argv, " "))
	}
	n.mu.Unlock()
	if argv[0] != "resnsend" || n.Legacy {
		c.Write([]byte("500 Command not recognized\x00"))
		return
	}
	be32 := func(v int32) { c.Write(binary.BigEndian.AppendUint32(nil, uint32(v))) }
	if len(argv) != 4 {
		be32(-int32(syscall.EINVAL))
		return
	}
	if _, err := strconv.ParseUint(argv[1], 10, 32); err != nil {
		be32(-int32(syscall.EINVAL))
		return
	}
	if _, err := strconv.ParseUint(argv[2], 10, 32); err != nil {
		be32(-int32(syscall.EINVAL))
		return
	}
	query, err := base64.StdEncoding.DecodeString(argv[3])
	if err != nil {
		be32(-int32(syscall.EILSEQ))
		return
	}
	ans, rcode, err := n.zone.Answer(query)
	if err != nil {
		be32(-int32(syscall.EINVAL))
		return
	}
	n.mu.Lock()
	n.count++
	n.mu.Unlock()
	be32(int32(rcode))
	be32(int32(len(ans)))
	c.Write(ans)
}

// Answer answers a DNS query from z: A and AAAA records of the names it
// holds, NXDOMAIN for the others.
func (z Zone) Answer(query []byte) ([]byte, dnsmessage.RCode, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, 0, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, 0, err
	}
	if h.Response {
		return nil, 0, errors.New("not a query")
	}
	name := strings.TrimSuffix(strings.ToLower(q.Name.String()), ".")
	addrs, ok := z[name]
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	if !ok {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, 0, err
	}
	if err := b.Question(q); err != nil {
		return nil, 0, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, 0, err
	}
	for _, a := range addrs {
		rr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
		switch {
		case q.Type == dnsmessage.TypeA && a.Is4():
			err = b.AResource(rr, dnsmessage.AResource{A: a.As4()})
		case q.Type == dnsmessage.TypeAAAA && a.Is6():
			err = b.AAAAResource(rr, dnsmessage.AAAAResource{AAAA: a.As16()})
		}
		if err != nil {
			return nil, 0, err
		}
	}
	ans, err := b.Finish()
	return ans, rh.RCode, err
}
