package resolver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"
)

// serverExchange asks the DNS server at addr: over UDP, and over TCP when
// the UDP answer is truncated. Datagrams that are not an answer to the
// query (its ID and its question) are skipped, as Go's resolver skips
// them.
func serverExchange(ctx context.Context, addr netip.AddrPort, query []byte) ([]byte, error) {
	if len(query) < 12 {
		return nil, errors.New("short query")
	}
	ans, err := udpExchange(ctx, addr, query)
	if err != nil {
		return nil, err
	}
	if ans[2]&0x02 == 0 { // TC clear
		return ans, nil
	}
	return tcpExchange(ctx, addr, query)
}

func udpExchange(ctx context.Context, addr netip.AddrPort, query []byte) ([]byte, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", addr.String())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	arm(ctx, c)
	if _, err := c.Write(query); err != nil {
		return nil, err
	}
	buf := make([]byte, 65535)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return nil, ctxErr(ctx, err)
		}
		if n >= 12 && answers(query, buf[:n]) {
			return buf[:n:n], nil
		}
	}
}

func tcpExchange(ctx context.Context, addr netip.AddrPort, query []byte) ([]byte, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	arm(ctx, c)
	msg := binary.BigEndian.AppendUint16(nil, uint16(len(query)))
	if _, err := c.Write(append(msg, query...)); err != nil {
		return nil, err
	}
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, ctxErr(ctx, err)
	}
	n := int(binary.BigEndian.Uint16(l[:]))
	if n < 12 {
		return nil, fmt.Errorf("answer of %d bytes", n)
	}
	ans := make([]byte, n)
	if _, err := io.ReadFull(c, ans); err != nil {
		return nil, ctxErr(ctx, err)
	}
	if ans[0] != query[0] || ans[1] != query[1] {
		return nil, errors.New("answer to another query")
	}
	return ans, nil
}

// arm gives c ctx's deadline, and cuts it when ctx is done.
func arm(ctx context.Context, c net.Conn) {
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
}
