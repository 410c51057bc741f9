package tarball

import (
	"context"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// A tarball served over https redirected to plain http on this machine
// (http://127.0.0.1:PORT/…): the client followed it, sending a GET to
// whatever listens on loopback (a phone's local services) from a server
// anywhere, and reading the tarball over plain http after the user asked
// for https. The README promises never to go from https down to http.
func TestReviewTarballRedirectNeverDowngradesToHTTP(t *testing.T) {
	var hits atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte("not a tarball"))
	}))
	defer plain.Close()
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			w.Write([]byte("ok"))
			return
		}
		http.Redirect(w, r, plain.URL+"/admin?do=something", http.StatusFound)
	}))
	defer tlsSrv.Close()
	// The default client trusts the system's roots: make the test
	// server's certificate one of them (read once per process).
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}), 0o644)
	t.Setenv("SSL_CERT_FILE", ca)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	probe, err := Open(tlsSrv.URL+"/ok", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rc, err := probe.Blob(ctx, ocispec.Descriptor{}); err != nil {
		t.Skipf("the system roots were read before this test set SSL_CERT_FILE: %v", err)
	} else {
		rc.Close()
	}

	s, err := Open(tlsSrv.URL+"/rootfs.tar.gz", Options{})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := s.Blob(ctx, ocispec.Descriptor{})
	if err == nil {
		io.Copy(io.Discard, rc)
		rc.Close()
	}
	if n := hits.Load(); n != 0 || err == nil {
		t.Errorf("https redirected to %s: %d requests reached it, err %v", plain.URL, n, err)
	}
}
