package resolver

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"
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
// recognized" and a NUL.

// maxCommand is FrameworkListener's CMD_BUF_SIZE.
const maxCommand = 1024

// errNoResnsend: netd does not know resnsend (Android 9 or older).
var errNoResnsend = errors.New("netd has no resnsend (Android 9 or older)")

// netdExchange sends query to netd at socket and returns its answer.
func netdExchange(ctx context.Context, socket string, query []byte) ([]byte, error) {
	cmd := "resnsend 0 0 " + base64.StdEncoding.EncodeToString(query) + "\x00"
	if len(cmd) > maxCommand {
		return nil, fmt.Errorf("query of %d bytes too long for netd", len(query))
	}
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
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
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
	if isText(hdr[:]) { // "500 Command not recognized"
		return nil, errNoResnsend
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

// ctxErr prefers ctx's reason to the error a cut deadline caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}
