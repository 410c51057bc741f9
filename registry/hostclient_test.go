package registry

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A host client for a tarball server the user named "on the internet"
// (example.com, at a TEST-NET-3 address dialed on loopback): its own
// answers come through, and its redirects to loopback, private, link-local
// and metadata addresses, or down to plain http, are refused before
// anything is dialed; a server on loopback may redirect to loopback.
func TestHostClientGuardsRedirects(t *testing.T) {
	var target string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/rootfs.tar" {
			w.Write([]byte("tar"))
			return
		}
		http.Redirect(w, r, target, http.StatusFound)
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)
	newClient := func() *http.Client {
		hc, err := NewHostClient(Options{CAFile: ca, StallTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		g := hc.Transport.(*namingTransport).g
		g.lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			if strings.EqualFold(host, "example.com") {
				return []netip.Addr{netip.MustParseAddr("203.0.113.7")}, nil
			}
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		g.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			ap := netip.MustParseAddrPort(addr)
			if ap.Addr() != netip.MustParseAddr("203.0.113.7") && !ap.Addr().IsLoopback() {
				t.Errorf("dialed %s", addr)
				return nil, errors.New("test: dial refused")
			}
			return (&net.Dialer{}).DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", ap.Port()))
		}
		return hc
	}
	named := "https://example.com:" + port(srv)
	get := func(hc *http.Client, u string) error {
		resp, err := hc.Get(u)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(newClient(), named+"/rootfs.tar"); err != nil {
		t.Fatalf("the named host: %v", err)
	}
	for _, to := range []string{
		"https://127.0.0.1:" + port(srv) + "/rootfs.tar",
		"http://127.0.0.1:" + port(srv) + "/rootfs.tar",
		"https://10.1.2.3/x", "https://169.254.169.254/latest/meta-data/", "https://[fd00:ec2::254]/",
		"http://example.com:" + port(srv) + "/rootfs.tar",
	} {
		target = to
		if err := get(newClient(), named+"/redirect"); err == nil {
			t.Errorf("a redirect from %s to %s was followed", named, to)
		}
	}
	// Named on loopback: its redirects to loopback are its own business.
	target = srv.URL + "/rootfs.tar"
	if err := get(newClient(), srv.URL+"/redirect"); err != nil {
		t.Errorf("a loopback server redirecting to itself: %v", err)
	}
}
