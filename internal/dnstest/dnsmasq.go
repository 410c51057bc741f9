package dnstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Dnsmasq is the real dnsmasq answering on 127.0.0.1 at a high port.
type Dnsmasq struct {
	Addr string // 127.0.0.1:port
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan struct{}
}

// ErrNoDnsmasq: dnsmasq is not installed (scripts/setup.sh installs it).
var ErrNoDnsmasq = errors.New("dnsmasq not installed (run scripts/setup.sh)")

// StartDnsmasq runs dnsmasq answering name with addrs (and nothing else:
// no upstream, no hosts file) for at most lifetime. Give an IPv4 and an
// IPv6 address: with no upstream, dnsmasq refuses the other type.
func StartDnsmasq(name string, addrs []string, lifetime time.Duration) (*Dnsmasq, error) {
	return StartDnsmasqPort(0, name, addrs, lifetime)
}

// StartDnsmasqPort is StartDnsmasq on 127.0.0.1:port (0: a free high
// port). Port 53 is what a resolv.conf names: a test in a network
// namespace of its own may take it.
func StartDnsmasqPort(port int, name string, addrs []string, lifetime time.Duration) (*Dnsmasq, error) {
	bin, err := exec.LookPath("dnsmasq")
	if err != nil {
		return nil, ErrNoDnsmasq
	}
	fixed := port
	for try := 0; try < 5; try++ {
		port := fixed
		if port == 0 {
			if port, err = freePort(); err != nil {
				return nil, err
			}
		}
		d := &Dnsmasq{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), done: make(chan struct{})}
		ctx, cancel := context.WithTimeout(context.Background(), lifetime)
		args := []string{"--keep-in-foreground", "--conf-file=/dev/null",
			"--no-resolv", "--no-hosts", "--listen-address=127.0.0.1", "--bind-interfaces",
			"--port=" + strconv.Itoa(port), "--user=", "--pid-file=", "--log-facility=-"}
		for _, a := range addrs {
			args = append(args, "--address=/"+name+"/"+a)
		}
		d.cmd = exec.CommandContext(ctx, bin, args...)
		d.cmd.Stdout, d.cmd.Stderr = &d.out, &d.out
		d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := d.cmd.Start(); err != nil {
			cancel()
			return nil, err
		}
		go func() { d.cmd.Wait(); cancel(); close(d.done) }()
		if d.ready() {
			return d, nil
		}
		d.Close()
		if fixed != 0 || !strings.Contains(d.out.String(), "in use") {
			return nil, fmt.Errorf("dnsmasq did not start: %s", strings.TrimSpace(d.out.String()))
		}
	}
	return nil, errors.New("dnsmasq: no free port")
}

// ready waits (boundedly) until dnsmasq answers on TCP.
func (d *Dnsmasq) ready() bool {
	for i := 0; i < 100; i++ {
		select {
		case <-d.done:
			return false
		default:
		}
		if c, err := net.DialTimeout("tcp", d.Addr, time.Second); err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// Close stops dnsmasq and waits for it.
func (d *Dnsmasq) Close() {
	if d.cmd.Process != nil {
		d.cmd.Process.Kill()
	}
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
	}
}

// freePort is a loopback port free for both UDP and TCP just now.
func freePort() (int, error) {
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	port := l.LocalAddr().(*net.UDPAddr).Port
	t, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return 0, err
	}
	t.Close()
	return port, nil
}
