package registry

import (
	"context"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --ca-file: a registry whose certificate a private CA signed is trusted
// with that CA and refused without it. httptest's certificate names
// example.com; requests for it are dialled to the test server.
func TestCAFile(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0644)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	url := "https://example.com:" + port + "/v2/"

	get := func(caFile string) error {
		rt, err := newTransport(newGuard(false), caFile, nil)
		if err != nil {
			return err
		}
		rt.g.lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return []netip.Addr{netip.MustParseAddr("203.0.113.7")}, nil // a public address…
		}
		rt.g.dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String()) // …that is the test server
		}
		resp, err := (&http.Client{Transport: rt}).Get(url)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(""); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without the CA: err = %v, want a certificate error", err)
	}
	if err := get(caFile); err != nil {
		t.Errorf("with --ca-file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0644)
	if err := get(bad); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("a CA file without certificates: err = %v", err)
	}
}

func TestRetryAfter(t *testing.T) {
	for in, want := range map[string]bool{"": false, "3": true, "-1": false, "soon": false, "Wed, 21 Oct 2015 07:28:00 GMT": true} {
		if _, ok := retryAfter(in); ok != want {
			t.Errorf("retryAfter(%q) ok = %v", in, ok)
		}
	}
}
