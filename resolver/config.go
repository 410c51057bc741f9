package resolver

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/rootfs-pull/rootfs-pull/android"
	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
)

// Defaults of a Config's paths and servers.
const (
	DefaultResolvConf = "/etc/resolv.conf"
	DNSProxySocket    = "/dev/socket/dnsproxyd"
	// TermuxPrefix is Termux's $PREFIX when the environment does not say.
	TermuxPrefix = android.TermuxPrefix
)

// Environment variables FromEnv reads.
const (
	// EnvServers forces servers: IP[,IP...], each optionally IP:port or
	// [IPv6]:port.
	EnvServers = "ROOTFS_PULL_DNS"
	// EnvTestSocket replaces /dev/socket/dnsproxyd, for tests only: a
	// stand-in netd listens there.
	EnvTestSocket = "ROOTFS_PULL_TEST_DNSPROXYD"
	// EnvTestPublic replaces the public resolvers, for tests only, so a
	// test never asks the Internet: IP:port[,IP:port...].
	EnvTestPublic = "ROOTFS_PULL_TEST_PUBLIC_DNS"
)

// Public resolvers, the last resort: Cloudflare's and Google's, IPv4
// first (a phone's IPv6 route is the one more often broken).
var Public = []netip.AddrPort{
	netip.MustParseAddrPort("1.1.1.1:53"),
	netip.MustParseAddrPort("8.8.8.8:53"),
	netip.MustParseAddrPort("[2606:4700:4700::1111]:53"),
	netip.MustParseAddrPort("[2001:4860:4860::8888]:53"),
}

// Config says where to look. The zero value looks where a real host has
// things (DefaultResolvConf, DNSProxySocket, Termux's default prefix,
// Public); tests point the paths elsewhere.
type Config struct {
	// Servers, when set, are the only servers asked (ROOTFS_PULL_DNS,
	// --dns-server): the first MaxForced of them.
	Servers []netip.AddrPort
	// ResolvConf is the host's resolver file ("" = DefaultResolvConf).
	ResolvConf string
	// Socket is netd's DNS proxy socket ("" = DNSProxySocket; "-" = none).
	Socket string
	// TermuxResolvConf is Termux's resolver file ("" = under Termux's
	// default prefix; "-" = none).
	TermuxResolvConf string
	// Public are the last resort (nil = Public; empty non-nil = none).
	Public []netip.AddrPort
	// Timeout bounds one server's answer (0 = 2s); netd gets twice as
	// long, as it may itself try several servers.
	Timeout time.Duration
}

// FromEnv is the Config of this process: forced servers from flags (each
// IP, IP:port or [IPv6]:port), else from ROOTFS_PULL_DNS; Termux's
// resolv.conf under $PREFIX (else Termux's default prefix); netd's socket
// at ROOTFS_PULL_TEST_DNSPROXYD when tests set it.
func FromEnv(flags []string) (Config, error) {
	var c Config
	var list []string
	what := "--dns-server"
	for _, f := range flags {
		list = append(list, strings.Split(f, ",")...)
	}
	if len(flags) == 0 {
		what = EnvServers
		if v := os.Getenv(EnvServers); strings.TrimSpace(v) != "" {
			list = strings.Split(v, ",")
		}
	}
	// Servers asked for (a flag, a non-empty variable) but none named (a
	// script's empty variable): an error, not the sources they replace.
	forcing := len(list) > 0
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		ap, err := ParseServer(s)
		if err != nil {
			return c, fmt.Errorf("%s %q: want an IP address (or IP:port, [IPv6]:port)", what, safetext.Cut(s, 60))
		}
		if !slices.Contains(c.Servers, ap) {
			c.Servers = append(c.Servers, ap)
		}
	}
	if forcing && len(c.Servers) == 0 {
		return c, fmt.Errorf("%s names no server: want an IP address (or IP:port, [IPv6]:port)", what)
	}
	if len(c.Servers) > MaxForced {
		return c, fmt.Errorf("%s: %d servers; want at most %d", what, len(c.Servers), MaxForced)
	}
	c.TermuxResolvConf = TermuxResolvConf()
	if p := os.Getenv(EnvTestSocket); p != "" {
		c.Socket = p
	}
	if v := os.Getenv(EnvTestPublic); v != "" {
		c.Public = []netip.AddrPort{}
		for _, s := range strings.Split(v, ",") {
			if ap, err := ParseServer(strings.TrimSpace(s)); err == nil {
				c.Public = append(c.Public, ap)
			}
		}
	}
	return c, nil
}

// TermuxResolvConf is $PREFIX/etc/resolv.conf, PREFIX from the environment
// when it is an absolute path, else Termux's default prefix.
func TermuxResolvConf() string {
	prefix := os.Getenv("PREFIX")
	if !filepath.IsAbs(prefix) {
		prefix = TermuxPrefix
	}
	return filepath.Join(prefix, "etc", "resolv.conf")
}

// ParseServer reads a server: IP (port 53), IP:port or [IPv6]:port.
func ParseServer(s string) (netip.AddrPort, error) {
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return netip.AddrPortFrom(a.Unmap(), 53), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return ap, err
	}
	if ap.Port() == 0 || ap.Addr().Zone() != "" {
		return ap, fmt.Errorf("%s: want a port and no zone", s)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// MaxForced is how many servers --dns-server and ROOTFS_PULL_DNS may
// name: each failed lookup asks them all, and messages list them.
const MaxForced = 8

// maxFileServers is how many of a resolver file's servers are asked, as
// bionic's resolver (MAXNS) takes no more.
const maxFileServers = 4

// maxResolvConf bounds how much of a resolver file is read.
const maxResolvConf = 64 << 10

// Nameservers reads the nameserver lines of a resolv.conf. Besides the
// usual "nameserver IP", it takes "nameserver IP:port" and
// "nameserver [IPv6]:port" (rootfs-pull's own extension), so a local resolver on
// another port can be named; Go's own resolver would ignore the port.
// Lines it cannot read are skipped. A missing file has none.
func Nameservers(path string) ([]netip.AddrPort, error) {
	data, err := ReadConf(path)
	if data == nil {
		return nil, err
	}
	var out []netip.AddrPort
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		if ap, err := ParseServer(fields[1]); err == nil {
			out = append(out, ap)
		}
	}
	if err == nil {
		err = sc.Err()
	}
	return out, err
}

// ReadConf reads the resolver file at path: its first maxResolvConf
// bytes (with an error when it is longer), and only when it is a regular
// file (a symlink to one is followed). A FIFO or a device is refused
// without blocking: it is opened non-blocking and checked before any
// read, so a resolv.conf that is a FIFO, /dev/tty or /dev/zero cannot
// hang or flood the tool.
func ReadConf(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", safetext.Cut(path, 80))
	}
	data, err := io.ReadAll(io.LimitReader(f, maxResolvConf+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxResolvConf {
		return data[:maxResolvConf], fmt.Errorf("%s: longer than %d bytes", safetext.Cut(path, 80), maxResolvConf)
	}
	return data, nil
}

// Usable reports whether the resolver file at path (the host's: ""
// means DefaultResolvConf) exists and names a nameserver Go's resolver
// can use (a plain IP: Go ignores ports).
func Usable(path string) bool {
	if path == "" {
		path = DefaultResolvConf
	}
	ns, _ := Nameservers(path)
	for _, s := range ns {
		if s.Port() == 53 {
			return true
		}
	}
	return false
}

// ContainerServers are the nameservers for a container's resolv.conf on
// a host whose own resolv.conf is not usable (Android): Termux's (those
// on port 53, which libc can use) when there are any, else Cloudflare's
// and Google's IPv4 ones. termux "" is Termux's default place.
func ContainerServers(termux string) []string {
	if termux == "" {
		termux = TermuxResolvConf()
	}
	ns, _ := Nameservers(termux)
	var out []string
	for _, s := range ns {
		if s.Port() == 53 {
			out = append(out, s.Addr().String())
		}
	}
	if len(out) == 0 {
		out = []string{Public[0].Addr().String(), Public[1].Addr().String()}
	}
	return out
}
