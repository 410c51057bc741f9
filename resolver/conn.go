package resolver

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// dial is the Dial of r's net.Resolver. Go's resolver asks it for a
// connection to each server it knows (with no resolv.conf, 127.0.0.1:53
// and [::1]:53); whatever the address, the connection carries the query
// to r's sources. It is a stream connection (no net.PacketConn), so Go
// frames messages with a 2-byte length and never needs to retry over TCP:
// the sources deal with truncation themselves.
//
// The connection's exchange is bound by its deadline and by ctx: when
// ctx ends (no caller waits for the lookup any more) the sources are no
// longer asked, and no new connection is made.
func (r *Resolver) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &chainConn{r: r, ctx: ctx, net: network}, nil
}

// chainConn takes one length-framed query and answers it from the
// resolver's sources.
type chainConn struct {
	r   *Resolver
	ctx context.Context // the dial's: its values, and its end stops the exchange
	net string

	mu       sync.Mutex
	deadline time.Time
	in       []byte
	out      []byte
	asked    bool
	closed   bool
}

func (c *chainConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	if len(c.in)+len(p) > 2+65535 {
		return 0, errors.New("query too long")
	}
	c.in = append(c.in, p...)
	return len(p), nil
}

func (c *chainConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	if !c.asked {
		c.asked = true
		in, dl := c.in, c.deadline
		c.mu.Unlock()
		if len(in) < 2 || len(in) != 2+int(binary.BigEndian.Uint16(in)) {
			return 0, errors.New("incomplete query")
		}
		ctx, cancel := c.ctx, context.CancelFunc(func() {})
		if !dl.IsZero() {
			ctx, cancel = context.WithDeadline(ctx, dl)
		}
		ans, err := c.r.exchange(ctx, in[2:])
		cancel()
		if err != nil {
			if !dl.IsZero() && time.Now().After(dl) {
				return 0, &timeoutError{err}
			}
			return 0, err
		}
		c.mu.Lock()
		c.out = binary.BigEndian.AppendUint16(nil, uint16(len(ans)))
		c.out = append(c.out, ans...)
	}
	defer c.mu.Unlock()
	if len(c.out) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

func (c *chainConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

func (c *chainConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return nil
}
func (c *chainConn) SetReadDeadline(t time.Time) error { return c.SetDeadline(t) }
func (c *chainConn) SetWriteDeadline(time.Time) error  { return nil }
func (c *chainConn) LocalAddr() net.Addr               { return chainAddr(c.net) }
func (c *chainConn) RemoteAddr() net.Addr              { return chainAddr(c.net) }

type chainAddr string

func (a chainAddr) Network() string { return string(a) }
func (a chainAddr) String() string  { return "rootfs-pull-resolver" }

// timeoutError marks a failure as a timeout for Go's resolver.
type timeoutError struct{ err error }

func (e *timeoutError) Error() string   { return e.err.Error() }
func (e *timeoutError) Unwrap() error   { return os.ErrDeadlineExceeded }
func (e *timeoutError) Timeout() bool   { return true }
func (e *timeoutError) Temporary() bool { return true }
