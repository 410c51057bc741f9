package resolver

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
)

// netd's getaddrinfo, as Android 7 to 9 speak it (netd's
// server/DnsProxyListener.cpp, GetAddrInfoCmd, GetAddrInfoHandler::run and
// sendaddrinfo; bionic's client is android_getaddrinfo_proxy in
// libc/dns/net/getaddrinfo.c; the framing is libsysutils' SocketClient
// sendCode and sendBinaryMsg):
//
//   - the client connects a SOCK_STREAM unix socket to
//     /dev/socket/dnsproxyd and writes "getaddrinfo <host> <service>
//     <ai_flags> <ai_family> <ai_socktype> <ai_protocol> <netId>" and a
//     NUL ("^" stands for a NULL host or service, -1 in all four hints for
//     NULL hints; netId 0 is NETID_UNSET). bionic sends no host holding
//     any of ` \n\r\t^'"`, which FrameworkListener would split or unquote.
//   - on success netd sends the 4 bytes "222\0" (DnsProxyQueryResult), then
//     for each addrinfo a big-endian int32 1 followed by ai_flags,
//     ai_family, ai_socktype and ai_protocol (big-endian int32 each),
//     ai_addrlen (big-endian int32) and that many bytes of sockaddr (in
//     the phone's byte order: sa_family little-endian), and the canonical
//     name's length (big-endian int32, NUL included, 0 for none) and its
//     bytes; a big-endian int32 0 ends the list.
//   - on failure it sends "401\0" (DnsProxyOperationFailed), a big-endian
//     int32 length (4) and the EAI_* code as a 4-byte integer in the
//     phone's byte order (little-endian on every Android ABI).
//   - a command it cannot take gets a FrameworkListener text reply,
//     "<3 digits> <message>" and a NUL ("501 Invalid number of
//     arguments...", "500 Command not recognized").
//
// netd does not close the connection after answering: the reply is read
// exactly, never up to the end of the stream.
//
// In these versions netd's getaddrinfo says EAI_NODATA whenever its
// search found no address: for a name that does not exist, for a name
// without addresses of that family, and also when its DNS servers did
// not answer. rootfs-pull takes it, as bionic's callers do, for "no such
// address" (see getaddrinfoExchange).

// Values from bionic's <sys/socket.h>, <netdb.h> and <netinet/in.h>, the
// same on every Android ABI.
const (
	afInet      = 2
	afInet6     = 10
	sockStream  = 1
	sizeofSin   = 16 // struct sockaddr_in
	sizeofSin6  = 28 // struct sockaddr_in6
	sizeofSsMax = 128
)

// Bounds on what is taken from netd: anything past them is an error.
const (
	maxAddrinfos = 64  // addresses for one name and family
	maxCanonname = 256 // 255 bytes and the NUL
	// maxReply bounds a whole getaddrinfo reply.
	maxReply = 4 + maxAddrinfos*(4+5*4+sizeofSsMax+4+maxCanonname) + 4
)

// Reply codes of netd's getaddrinfo (netd's ResponseCode.h), as sent by
// SocketClient::sendCode: three digits and a NUL.
const (
	codeQueryResult     = "222\x00"
	codeOperationFailed = "401\x00"
)

// eaiError is a getaddrinfo failure netd reported: one of bionic's EAI_*
// codes.
type eaiError int32

// bionic's EAI_* codes (<netdb.h>).
const (
	eaiAgain  eaiError = 2
	eaiFail   eaiError = 4
	eaiMemory eaiError = 6
	eaiNodata eaiError = 7
	eaiNoname eaiError = 8
	eaiSystem eaiError = 11
)

var eaiNames = map[eaiError]string{
	1:  "EAI_ADDRFAMILY",
	2:  "EAI_AGAIN: temporary failure in name resolution",
	3:  "EAI_BADFLAGS",
	4:  "EAI_FAIL: non-recoverable failure in name resolution",
	5:  "EAI_FAMILY",
	6:  "EAI_MEMORY",
	7:  "EAI_NODATA: no address associated with hostname",
	8:  "EAI_NONAME: name not known",
	9:  "EAI_SERVICE",
	10: "EAI_SOCKTYPE",
	11: "EAI_SYSTEM: system error",
	12: "EAI_BADHINTS",
	13: "EAI_PROTOCOL",
	14: "EAI_OVERFLOW",
}

func (e eaiError) Error() string {
	if s, ok := eaiNames[e]; ok {
		return "getaddrinfo: " + s
	}
	return "getaddrinfo: error " + strconv.Itoa(int(e))
}

// getaddrinfoCommand is the command asking netd for host's addresses of
// family (afInet or afInet6): one stream socket type, so each address
// comes once, no service, default network.
func getaddrinfoCommand(host string, family int) (string, error) {
	if !commandSafe(host) {
		return "", fmt.Errorf("%w: a name netd's getaddrinfo cannot take", errNotAnswerable)
	}
	return "getaddrinfo " + host + " ^ 0 " + strconv.Itoa(family) + " " + strconv.Itoa(sockStream) + " 0 0\x00", nil
}

// commandSafe reports whether host can go into a getaddrinfo command as
// it is: a DNS name of letters, digits, '-', '_' and dots, nothing
// FrameworkListener would split, unquote or unescape.
func commandSafe(host string) bool {
	if host == "" || host == "." || len(host) > 254 {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// getaddrinfo asks netd at socket for host's addresses of family. Its
// errors are an eaiError when netd says getaddrinfo failed, errNetdMute
// (wrapped) when netd does not know the command.
func getaddrinfo(ctx context.Context, socket, host string, family int) ([]netip.Addr, error) {
	cmd, err := getaddrinfoCommand(host, family)
	if err != nil {
		return nil, err
	}
	c, err := dialNetd(ctx, socket)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.Write([]byte(cmd)); err != nil {
		return nil, err
	}
	addrs, err := readGetaddrinfoReply(bufio.NewReader(c), family)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	return addrs, nil
}

// errShortReply: netd's reply ended early.
var errShortReply = errors.New("netd's getaddrinfo reply ended early")

// readGetaddrinfoReply reads netd's reply to a getaddrinfo command for
// family from r: the addresses, deduplicated, in netd's order. It reads
// at most maxReply bytes and never past the reply's end.
func readGetaddrinfoReply(r io.Reader, family int) ([]netip.Addr, error) {
	lr := &io.LimitedReader{R: r, N: maxReply}
	rd := replyReader{r: lr}
	var code [4]byte
	rd.read(code[:])
	if rd.err != nil {
		return nil, rd.fail("its code")
	}
	switch s := string(code[:]); {
	case s == codeQueryResult:
	case s == codeOperationFailed:
		if n := rd.be32(); rd.err != nil || n != 4 {
			return nil, rd.failf("the length of its error code", "error code of %d bytes", n)
		}
		var v [4]byte
		rd.read(v[:])
		if rd.err != nil {
			return nil, rd.fail("its error code")
		}
		return nil, eaiError(binary.LittleEndian.Uint32(v[:]))
	case isText(code[:]):
		msg, err := readText(lr, code[:])
		if err != nil {
			return nil, err
		}
		if msg == notRecognized {
			return nil, errNetdMute
		}
		return nil, errors.New("netd answered getaddrinfo: " + msg)
	default:
		return nil, fmt.Errorf("netd's getaddrinfo reply starts with %q, not a reply code", code[:])
	}
	var addrs []netip.Addr
	for i := 0; ; i++ {
		more := rd.be32()
		if rd.err != nil {
			return nil, rd.fail("the end of its list")
		}
		if more == 0 {
			return addrs, nil
		}
		if i == maxAddrinfos {
			return nil, fmt.Errorf("netd's getaddrinfo reply has more than %d addresses", maxAddrinfos)
		}
		_ = rd.be32() // ai_flags
		fam := rd.be32()
		_ = rd.be32() // ai_socktype
		_ = rd.be32() // ai_protocol
		alen := rd.be32()
		if rd.err != nil {
			return nil, rd.fail("an address's fields")
		}
		if alen > sizeofSsMax {
			return nil, fmt.Errorf("netd's getaddrinfo reply has an address of %d bytes", alen)
		}
		var sa [sizeofSsMax]byte
		rd.read(sa[:alen])
		nlen := rd.be32()
		if rd.err != nil {
			return nil, rd.fail("an address")
		}
		if nlen > maxCanonname {
			return nil, fmt.Errorf("netd's getaddrinfo reply has a canonical name of %d bytes", nlen)
		}
		var name [maxCanonname]byte
		rd.read(name[:nlen])
		if rd.err != nil {
			return nil, rd.fail("a canonical name")
		}
		if nlen > 0 && name[nlen-1] != 0 {
			return nil, errors.New("netd's getaddrinfo reply has a canonical name without its NUL")
		}
		if int(fam) != family {
			return nil, fmt.Errorf("netd's getaddrinfo reply has an address of family %d, asked %d", int32(fam), family)
		}
		a, err := parseSockaddr(sa[:alen], family)
		if err != nil {
			return nil, err
		}
		if !containsIP(addrs, a) {
			addrs = append(addrs, a)
		}
	}
}

// parseSockaddr reads the address of a sockaddr_in or sockaddr_in6 as
// netd sends it (sa_family in the phone's byte order, little-endian).
func parseSockaddr(sa []byte, family int) (netip.Addr, error) {
	want := sizeofSin
	if family == afInet6 {
		want = sizeofSin6
	}
	if len(sa) != want {
		return netip.Addr{}, fmt.Errorf("netd's getaddrinfo reply has a family %d address of %d bytes, not %d", family, len(sa), want)
	}
	if f := binary.LittleEndian.Uint16(sa); int(f) != family {
		return netip.Addr{}, fmt.Errorf("netd's getaddrinfo reply has a sockaddr of family %d, asked %d", f, family)
	}
	if family == afInet {
		return netip.AddrFrom4([4]byte(sa[4:8])), nil
	}
	return netip.AddrFrom16([16]byte(sa[8:24])), nil // the scope ID is left out
}

func containsIP(list []netip.Addr, a netip.Addr) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

// replyReader reads netd's binary reply, keeping the first error.
type replyReader struct {
	r   *io.LimitedReader
	err error
}

func (rd *replyReader) read(b []byte) {
	if rd.err != nil {
		return
	}
	if _, err := io.ReadFull(rd.r, b); err != nil {
		rd.err = err
	}
}

// be32 reads a big-endian int32, as an unsigned number: a negative one
// is then too big for every bound.
func (rd *replyReader) be32() uint32 {
	var b [4]byte
	rd.read(b[:])
	if rd.err != nil {
		return 0
	}
	return binary.BigEndian.Uint32(b[:])
}

// fail is the error of a read of what that failed.
func (rd *replyReader) fail(what string) error {
	err := rd.err
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		if rd.r.N <= 0 {
			return fmt.Errorf("netd's getaddrinfo reply is longer than %d bytes", maxReply)
		}
		return fmt.Errorf("%w, in %s", errShortReply, what)
	}
	return fmt.Errorf("reading netd's getaddrinfo reply (%s): %w", what, err)
}

// failf is fail, or a format error when the read itself went well.
func (rd *replyReader) failf(what, format string, args ...any) error {
	if rd.err != nil {
		return rd.fail(what)
	}
	return fmt.Errorf("netd's getaddrinfo reply has an "+format, args...)
}
