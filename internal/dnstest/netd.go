// Package dnstest runs DNS servers for tests: a stand-in for Android's
// netd on a unix socket, speaking resnsend (Android 10+) or getaddrinfo
// (Android 7 to 9) as netd does (no real netd exists off Android), and
// the real dnsmasq on a loopback port.
package dnstest

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
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
// It reads one NUL-terminated command in one read of at most 1024 bytes,
// as FrameworkListener does, and answers a command its mode does not know
// with FrameworkListener's "500 Command not recognized".
//
// resnsend is answered as DnsResolver's DnsProxyListener does (Android
// 10+): "resnsend <netId> <flags> <base64 query>"; a big-endian int32
// -errno, or the rcode followed by a big-endian int32 length and the raw
// answer.
//
// getaddrinfo is answered as netd's DnsProxyListener does on Android 7 to
// 9 (GetAddrInfoCmd, GetAddrInfoHandler::run, sendaddrinfo):
// "getaddrinfo <host> <service> <flags> <family> <socktype> <protocol>
// <netId>" ("^" for none); on success "222\0", then per address a
// big-endian 1, ai_flags, ai_family, ai_socktype, ai_protocol, ai_addrlen
// (big-endian int32 each), the sockaddr (sa_family little-endian, as on
// the phone), the canonical name's length (NUL included, 0 for none) and
// bytes, and a big-endian 0 at the end; on failure "401\0", a big-endian
// length 4 and the EAI_* code, little-endian. As that netd does, a name
// it has no address for (of the family asked) is EAI_NODATA; a NULL host
// is EAI_NONAME (the numeric and NULL-host cases of bionic's getaddrinfo
// are not modelled).
type Netd struct {
	Path string

	ln    net.Listener
	zone  Zone
	done  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	mode  NetdMode
	eai   int32
	raw   []byte
	hold  bool
	cmds  []string
	count int
	gai   int
}

// NetdMode is which DNS commands a stand-in netd knows.
type NetdMode int

const (
	// NetdResnsend knows resnsend and getaddrinfo, as Android 10 and later.
	NetdResnsend NetdMode = iota
	// NetdGetaddrinfo knows getaddrinfo but not resnsend, as Android 7 to 9.
	NetdGetaddrinfo
	// NetdNoDNS knows no DNS command.
	NetdNoDNS
)

// bionic's EAI_* codes (<netdb.h>), for SetGetaddrinfoError.
const (
	EAIAgain  = 2
	EAIFail   = 4
	EAINodata = 7
	EAINoname = 8
	EAISystem = 11
)

// StartNetd listens on path and answers from zone, speaking resnsend.
func StartNetd(path string, zone Zone) (*Netd, error) {
	return StartNetdMode(path, zone, NetdResnsend)
}

// StartNetdMode listens on path and answers from zone the commands of
// mode.
func StartNetdMode(path string, zone Zone, mode NetdMode) (*Netd, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	n := &Netd{Path: path, ln: ln, zone: zone, mode: mode, done: make(chan struct{})}
	n.wg.Add(1)
	go n.serve()
	return n, nil
}

// SetMode changes the commands n knows.
func (n *Netd) SetMode(m NetdMode) {
	n.mu.Lock()
	n.mode = m
	n.mu.Unlock()
}

// SetGetaddrinfoError makes every getaddrinfo fail with the EAI_* code
// eai (0: answer from the zone again).
func (n *Netd) SetGetaddrinfoError(eai int) {
	n.mu.Lock()
	n.eai = int32(eai)
	n.mu.Unlock()
}

// SetGetaddrinfoReply makes n answer every getaddrinfo with reply, byte
// for byte (nil: answer from the zone again), as a broken or hostile
// netd would; with hold, the connection then stays open, silent, until
// Close.
func (n *Netd) SetGetaddrinfoReply(reply []byte, hold bool) {
	n.mu.Lock()
	n.raw, n.hold = reply, hold
	n.mu.Unlock()
}

// Close stops the server and waits for its connections.
func (n *Netd) Close() {
	close(n.done)
	n.ln.Close()
	n.wg.Wait()
}

// Commands are the commands received, resnsend's queries left out.
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

// Lookups is how many getaddrinfo commands were answered from the zone.
func (n *Netd) Lookups() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.gai
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
	if argv[0] == "resnsend" && len(argv) == 4 {
		n.cmds = append(n.cmds, strings.Join(argv[:3], " "))
	} else {
		n.cmds = append(n.cmds, strings.Join(argv, " "))
	}
	mode := n.mode
	n.mu.Unlock()
	switch {
	case argv[0] == "resnsend" && mode == NetdResnsend:
		n.resnsend(c, argv)
	case argv[0] == "getaddrinfo" && mode != NetdNoDNS:
		n.getaddrinfo(c, argv)
	default:
		c.Write([]byte("500 Command not recognized\x00"))
	}
}

func (n *Netd) resnsend(c net.Conn, argv []string) {
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

func (n *Netd) getaddrinfo(c net.Conn, argv []string) {
	if len(argv) != 8 {
		c.Write([]byte(fmt.Sprintf("501 Invalid number of arguments to getaddrinfo: %d\x00", len(argv))))
		return
	}
	n.mu.Lock()
	raw, hold, eai := n.raw, n.hold, n.eai
	n.mu.Unlock()
	if raw != nil {
		c.Write(raw)
		if hold {
			<-n.done
		}
		return
	}
	host, flags, family, socktype, protocol := argv[1], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6])
	var ais []addrinfo
	if eai == 0 {
		ais, eai = n.zone.addrinfo(host, flags, family, socktype, protocol)
	}
	if eai != 0 {
		reply := []byte("401\x00")
		reply = binary.BigEndian.AppendUint32(reply, 4)
		reply = binary.LittleEndian.AppendUint32(reply, uint32(eai))
		c.Write(reply)
		return
	}
	n.mu.Lock()
	n.gai++
	n.mu.Unlock()
	reply := []byte("222\x00")
	for _, ai := range ais {
		reply = binary.BigEndian.AppendUint32(reply, 1)
		for _, v := range []int32{ai.flags, ai.family, ai.socktype, ai.protocol} {
			reply = binary.BigEndian.AppendUint32(reply, uint32(v))
		}
		sa := sockaddr(ai.addr)
		reply = binary.BigEndian.AppendUint32(reply, uint32(len(sa)))
		reply = append(reply, sa...)
		if ai.canon == "" {
			reply = binary.BigEndian.AppendUint32(reply, 0)
		} else {
			reply = binary.BigEndian.AppendUint32(reply, uint32(len(ai.canon)+1))
			reply = append(append(reply, ai.canon...), 0)
		}
	}
	reply = binary.BigEndian.AppendUint32(reply, 0)
	c.Write(reply)
}

// atoi is C's atoi for what netd parses: 0 for what is not a number.
func atoi(s string) int32 {
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0
	}
	return int32(v)
}

// addrinfo is one struct addrinfo of a getaddrinfo reply.
type addrinfo struct {
	flags, family, socktype, protocol int32
	addr                              netip.Addr
	canon                             string
}

// Values from bionic's headers.
const (
	afUnspec, afInet, afInet6          = 0, 2, 10
	sockStream, sockDgram, sockRaw     = 1, 2, 3
	ipprotoTCP, ipprotoUDP             = 6, 17
	aiCanonname                        = 0x2
	eaiFamily, eaiSocktype, eaiBadhint = 5, 10, 12
)

// addrinfo answers getaddrinfo from z as bionic's getaddrinfo does for a
// name found in DNS: -1 in all four hints is no hints; for each socket
// type the hints allow (datagram, stream, raw, in bionic's order) every
// address of the family (IPv6 first for AF_UNSPEC); the canonical name,
// when asked for, on the first. The error is an EAI_* code.
func (z Zone) addrinfo(host string, flags, family, socktype, protocol int32) ([]addrinfo, int32) {
	if flags == -1 && family == -1 && socktype == -1 && protocol == -1 {
		flags, family, socktype, protocol = 0, afUnspec, 0, 0
	}
	if family != afUnspec && family != afInet && family != afInet6 {
		return nil, eaiFamily
	}
	if host == "^" {
		return nil, EAINoname
	}
	type kind struct{ socktype, protocol int32 }
	var kinds []kind
	for _, k := range []kind{{sockDgram, ipprotoUDP}, {sockStream, ipprotoTCP}, {sockRaw, 0}} {
		if socktype != 0 && socktype != k.socktype {
			continue
		}
		if protocol != 0 && k.protocol != 0 && protocol != k.protocol {
			if socktype != 0 {
				return nil, eaiBadhint // e.g. a stream of UDP
			}
			continue
		}
		if protocol != 0 {
			k.protocol = protocol
		}
		kinds = append(kinds, k)
	}
	if len(kinds) == 0 {
		return nil, eaiSocktype
	}
	var addrs []netip.Addr
	for _, want6 := range []bool{true, false} {
		for _, a := range z[strings.TrimSuffix(strings.ToLower(host), ".")] {
			if a.Is6() == want6 && (family == afUnspec || (family == afInet6) == want6) {
				addrs = append(addrs, a)
			}
		}
	}
	if len(addrs) == 0 {
		return nil, EAINodata
	}
	var out []addrinfo
	for _, k := range kinds {
		for _, a := range addrs {
			f := int32(afInet)
			if a.Is6() {
				f = afInet6
			}
			ai := addrinfo{flags: flags, family: f, socktype: k.socktype, protocol: k.protocol, addr: a}
			if len(out) == 0 && flags&aiCanonname != 0 {
				ai.canon = strings.TrimSuffix(host, ".") // as res_query's answer names it
			}
			out = append(out, ai)
		}
	}
	return out, 0
}

// sockaddr is a's sockaddr_in or sockaddr_in6 as it lies in an Android
// phone's memory (little-endian), port 0.
func sockaddr(a netip.Addr) []byte {
	if a.Is4() {
		sa := make([]byte, 16)
		binary.LittleEndian.PutUint16(sa, afInet)
		a4 := a.As4()
		copy(sa[4:], a4[:])
		return sa
	}
	sa := make([]byte, 28)
	binary.LittleEndian.PutUint16(sa, afInet6)
	a16 := a.As16()
	copy(sa[8:], a16[:])
	return sa
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
