package resolver

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
)

// netd's resnsend, as Android 10+ speaks it (DnsResolver's
// DnsProxyListener.cpp, ResNSendCommand and ResNSendHandler; bionic's
// client is resNetworkSend/resNetworkResult in netd's NetdClient.cpp):
//
//   - the client connects a SOCK_STREAM unix socket to
//     /dev/socket/dnsproxyd and writes, in one write, the command
//     "resnsend <netId> <flags> <base64 query>" ending in a NUL byte
//     (netId 0 is NETID_UNSET: the app's default network; flags 0), then
//     shuts its side down;
//   - netd answers a big-endian int32: negative is -errno (no answer
//     follows); otherwise it is the answer's rcode, followed by a
//     big-endian int32 length and the raw DNS answer, its ID restored to
//     the query's.
//
// netd's FrameworkListener reads a command in one read of at most 1024
// bytes (CMD_BUF_SIZE), and answers a command it does not know (Android
// 9 and older have no resnsend) with the text "500 Command not
// recognized" and a NUL. Those older versions know getaddrinfo instead
// (getaddrinfo.go), which netd then answers through.

// maxCommand is FrameworkListener's CMD_BUF_SIZE.
const maxCommand = 1024

// notRecognized is FrameworkListener's answer to a command it does not
// know, its NUL left out.
const notRecognized = "500 Command not recognized"

// errNoResnsend: netd does not know resnsend (Android 9 or older).
var errNoResnsend = errors.New("netd has no resnsend (Android 9 or older)")

// errNetdMute: netd knows neither resnsend nor getaddrinfo.
var errNetdMute = errors.New("netd knows neither resnsend nor getaddrinfo")

// What a netd was found to speak.
const (
	speaksResnsend    = iota // Android 10+, or not asked yet
	speaksGetaddrinfo        // Android 7 to 9: resnsend is not a command
	speaksNothing            // no DNS command at all
)

// netd is Android's DNS proxy at one socket, and what it was found to
// speak: learned once per Resolver, so an old netd is not asked resnsend
// again for every query.
type netd struct {
	socket string
	speaks atomic.Int32
}

// viaGetaddrinfo ends the name of a netd that answers with getaddrinfo.
const viaGetaddrinfo = ", getaddrinfo)"

// label names n in reports, saying when answers come from getaddrinfo.
func (n *netd) label() string {
	sock := safetext.Cut(n.socket, maxPathShown)
	if n.speaks.Load() == speaksGetaddrinfo {
		return "netd (" + sock + viaGetaddrinfo
	}
	return "netd (" + sock + ")"
}

// mute reports whether n was found to know no DNS command.
func (n *netd) mute() bool { return n.speaks.Load() == speaksNothing }

// exchange answers query through netd: with resnsend, or, once netd
// said it does not know resnsend, with getaddrinfo.
func (n *netd) exchange(ctx context.Context, query []byte) ([]byte, error) {
	if n.speaks.Load() == speaksResnsend {
		ans, err := resnsendExchange(ctx, n.socket, query)
		if !errors.Is(err, errNoResnsend) {
			return ans, err
		}
		n.speaks.CompareAndSwap(speaksResnsend, speaksGetaddrinfo)
	}
	if n.mute() {
		return nil, errNetdMute
	}
	ans, err := n.getaddrinfoExchange(ctx, query)
	if errors.Is(err, errNetdMute) {
		n.speaks.Store(speaksNothing)
	}
	return ans, err
}

// dialNetd connects to netd's socket, the connection bound by ctx.
func dialNetd(ctx context.Context, socket string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socket)
	if errors.Is(err, syscall.ENOENT) {
		return nil, errors.New("no such socket (not Android)")
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return nil, oe.Err // the path is in the source's name
	}
	if err != nil {
		return nil, err
	}
	arm(ctx, c)
	return c, nil
}

// resnsendExchange sends query to netd at socket with resnsend and
// returns its answer.
func resnsendExchange(ctx context.Context, socket string, query []byte) ([]byte, error) {
	cmd := "resnsend 0 0 " + base64.StdEncoding.EncodeToString(query) + "\x00"
	if len(cmd) > maxCommand {
		return nil, fmt.Errorf("query of %d bytes too long for netd", len(query))
	}
	c, err := dialNetd(ctx, socket)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.Write([]byte(cmd)); err != nil {
		return nil, err
	}
	if uc, ok := c.(*net.UnixConn); ok {
		uc.CloseWrite()
	}
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("reading netd's answer: %w", err))
	}
	if isText(hdr[:]) {
		msg, err := readText(c, hdr[:])
		if err != nil {
			return nil, ctxErr(ctx, err)
		}
		if msg == notRecognized {
			return nil, errNoResnsend
		}
		return nil, errors.New("netd answered: " + msg)
	}
	rc := int32(binary.BigEndian.Uint32(hdr[:]))
	if rc < 0 {
		return nil, fmt.Errorf("netd: %w", syscall.Errno(-rc))
	}
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("reading netd's answer length: %w", err))
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n < 12 || n > 65535 {
		return nil, fmt.Errorf("netd: answer of %d bytes", n)
	}
	ans := make([]byte, n)
	if _, err := io.ReadFull(c, ans); err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("reading netd's answer: %w", err))
	}
	return ans, nil
}

// isText reports whether b is the start of a FrameworkListener text
// reply: three digits and a space.
func isText(b []byte) bool {
	return len(b) == 4 && b[3] == ' ' &&
		'0' <= b[0] && b[0] <= '9' && '0' <= b[1] && b[1] <= '9' && '0' <= b[2] && b[2] <= '9'
}

// maxText bounds a FrameworkListener text reply.
const maxText = 1024

// readText reads the rest of a text reply that began with start, up to
// its NUL (or the end of the stream), and returns it, cleaned for
// messages.
func readText(r io.Reader, start []byte) (string, error) {
	msg := append([]byte(nil), start...)
	var b [1]byte
	for i := 0; i < maxText && len(msg) < maxText; i++ {
		n, err := r.Read(b[:])
		if n == 1 {
			if b[0] == 0 {
				break
			}
			msg = append(msg, b[0])
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("reading netd's answer: %w", err)
		}
	}
	return safetext.Cut(string(msg), 120), nil
}

// ctxErr prefers ctx's reason to the error a cut deadline caused (the
// connection's deadline, ctx's own, may strike a moment before ctx is
// done).
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	if dl, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(dl) {
		return fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
	}
	return err
}
