package dnstest

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"
)

func be(vs ...uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

// The stand-in's getaddrinfo replies, byte for byte as netd of Android 7
// to 9 sends them (sendCode, sendaddrinfo, sendBinaryMsg).
func TestNetdGetaddrinfo(t *testing.T) {
	sin := []byte{2, 0, 0, 0, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}
	sin6 := append(append([]byte{10, 0, 0, 0, 0, 0, 0, 0}, netip.MustParseAddr("::1").AsSlice()...), 0, 0, 0, 0)
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	zone := Zone{"registry.phone.test": {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}}
	for _, tt := range []struct {
		name string
		mode NetdMode
		cmd  string
		want []byte
	}{
		{"IPv4", NetdGetaddrinfo, "getaddrinfo registry.phone.test. ^ 0 2 1 0 0",
			join([]byte("222\x00"), be(1, 0, 2, 1, 6, 16), sin, be(0), be(0))},
		{"IPv6", NetdGetaddrinfo, "getaddrinfo Registry.Phone.Test ^ 0 10 1 0 0",
			join([]byte("222\x00"), be(1, 0, 10, 1, 6, 28), sin6, be(0), be(0))},
		{"canonical name", NetdGetaddrinfo, "getaddrinfo registry.phone.test. ^ 2 2 1 0 0",
			join([]byte("222\x00"), be(1, 2, 2, 1, 6, 16), sin, be(20), []byte("registry.phone.test\x00"), be(0))},
		{"no hints: every socket type, IPv6 first", NetdGetaddrinfo, "getaddrinfo registry.phone.test ^ -1 -1 -1 -1 0",
			join([]byte("222\x00"),
				be(1, 0, 10, 2, 17, 28), sin6, be(0), be(1, 0, 2, 2, 17, 16), sin, be(0),
				be(1, 0, 10, 1, 6, 28), sin6, be(0), be(1, 0, 2, 1, 6, 16), sin, be(0),
				be(1, 0, 10, 3, 0, 28), sin6, be(0), be(1, 0, 2, 3, 0, 16), sin, be(0),
				be(0))},
		{"unknown name", NetdGetaddrinfo, "getaddrinfo nowhere.test. ^ 0 2 1 0 0",
			join([]byte("401\x00"), be(4), []byte{7, 0, 0, 0})},
		{"bad family", NetdGetaddrinfo, "getaddrinfo registry.phone.test. ^ 0 99 1 0 0",
			join([]byte("401\x00"), be(4), []byte{5, 0, 0, 0})},
		{"too few arguments", NetdGetaddrinfo, "getaddrinfo registry.phone.test.",
			[]byte("501 Invalid number of arguments to getaddrinfo: 2\x00")},
		{"resnsend on Android 9", NetdGetaddrinfo, "resnsend 0 0 AAAA", []byte("500 Command not recognized\x00")},
		{"getaddrinfo on Android 10", NetdResnsend, "getaddrinfo registry.phone.test. ^ 0 2 1 0 0",
			join([]byte("222\x00"), be(1, 0, 2, 1, 6, 16), sin, be(0), be(0))},
		{"no DNS at all", NetdNoDNS, "getaddrinfo registry.phone.test. ^ 0 2 1 0 0", []byte("500 Command not recognized\x00")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n, err := StartNetdMode(filepath.Join(t.TempDir(), "dnsproxyd"), zone, tt.mode)
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			if got := ask(t, n.Path, tt.cmd); !bytes.Equal(got, tt.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// A hostile reply goes out as it is; held, the connection stays open
// until Close.
func TestNetdRawReply(t *testing.T) {
	n, err := StartNetdMode(filepath.Join(t.TempDir(), "dnsproxyd"), nil, NetdGetaddrinfo)
	if err != nil {
		t.Fatal(err)
	}
	n.SetGetaddrinfoReply([]byte("222\x00\x00\x00"), true)
	c, err := net.Dial("unix", n.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("getaddrinfo x ^ 0 2 1 0 0\x00"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 6)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "222\x00\x00\x00" {
		t.Fatalf("got %q, %v", buf, err)
	}
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := c.Read(buf); err == nil {
		t.Fatal("a held connection said more")
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	done := make(chan struct{})
	go func() { n.Close(); close(done) }()
	if _, err := c.Read(buf); err != io.EOF {
		t.Errorf("after Close: %v, want EOF", err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
}

// ask sends cmd to the stand-in at path and returns all it answers.
func ask(t *testing.T, path, cmd string) []byte {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(cmd + "\x00")); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
