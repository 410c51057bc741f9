package registry

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
)

// stallAfterHeaders answers with headers and a first few bytes of a body
// that never comes (until the test ends): a hostile or broken registry.
func stallAfterHeaders(w http.ResponseWriter, r *http.Request, contentType string, done <-chan struct{}) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", "4096")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(`{"schemaVersion":`))
	w.(http.Flusher).Flush()
	select {
	case <-r.Context().Done():
	case <-done:
	}
}

// Found by the hostile review (hangs), fixed since: a blob that stops sending is cut after StallTimeout and
// resumed, but a manifest (and a token, and a tag page) whose body stops
// after the headers is read with no timer at all: the pull waits forever
// (only Ctrl-C ends it), whatever StallTimeout says. A registry that
// sends headers and a few bytes of a manifest, then nothing, must not
// hold the tool for more than about the stall timeout (and its retries).
func TestManifestBodyStallIsBounded(t *testing.T) {
	done := make(chan struct{})
	defer close(done)
	f := newFakeRegistry(t)
	f.before = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/v2/hostile/app/manifests/stall" {
			stallAfterHeaders(w, r, "application/vnd.oci.image.manifest.v1+json", done)
			return true
		}
		return false
	}
	resolveBounded(t, f, "stall", "a stalled manifest body")
}

// resolveBounded resolves tag from f with a 1 s stall timeout and asserts
// that it fails, and well before 20 s: what stands for a body that never
// ends properly.
func resolveBounded(t *testing.T, f *fakeRegistry, tag, what string) {
	t.Helper()
	c, err := NewClient(Options{NoDockerConfig: true, StallTimeout: time.Second,
		Retry: RetryPolicy{Attempts: 2, Backoff: 10 * time.Millisecond, MaxWait: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err = c.Resolve(ctx, f.ref(t, tag), Platform{OS: "linux", Architecture: "amd64"})
	if ctx.Err() != nil {
		t.Fatalf("Resolve still waiting for %s after %v (StallTimeout 1s): err = %v", what, time.Since(start).Round(time.Second), err)
	}
	if err == nil {
		t.Fatalf("Resolve with %s succeeded", what)
	}
}

// Found by the hostile review (hangs), fixed since: the same for the token endpoint (a slowloris realm):
// oras reads the token body with no timer either.
func TestTokenBodyStallIsBounded(t *testing.T) {
	done := make(chan struct{})
	defer close(done)
	f := newFakeRegistry(t)
	f.before = func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case r.URL.Path == "/token":
			stallAfterHeaders(w, r, "application/json", done)
			return true
		case r.Header.Get("Authorization") == "":
			w.Header().Set("Www-Authenticate", `Bearer realm="http://`+r.Host+`/token",service="fake",scope="repository:hostile/app:pull"`)
			w.WriteHeader(http.StatusUnauthorized)
			return true
		}
		return false
	}
	resolveBounded(t, f, "latest", "a stalled token body")
}

// Found by the hostile review (terminal injection), fixed since: the name check of a TLS certificate comes
// before its chain is verified, and Go's HostnameError lists the
// certificate's DNS names raw. IA5String lets them hold any ASCII control
// character, so any server on the path (a man in the middle with a
// self-signed certificate, a typo'd registry) puts escape sequences into
// the error, which pull.Explain prints with %v ("TLS certificate not
// trusted (…)") on the user's terminal. Every other registry text
// (HTTPError, VerifyError, URLs) is escaped with safetext.
func TestCertificateNamesEscapedInErrors(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "evil"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"\x1b]0;owned\x07\x1b[2J\rrootfs-pull: pull complete"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeRegistry{manifests: map[string]fakeDoc{}, blobs: map[string][]byte{}}
	f.Server = httptest.NewUnstartedServer(http.NotFoundHandler())
	f.Server.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	f.Server.StartTLS()
	t.Cleanup(f.Server.Close)

	c := newTestClient(t, Options{})
	fakeNet(t, c, map[string]string{"registry.example": "203.0.113.7"})
	_, err = c.Resolve(testCtx(t), f.refAt(t, "registry.example:"+port(f.Server), "latest"), Platform{OS: "linux", Architecture: "amd64"})
	if err == nil {
		t.Fatal("Resolve trusted a self-signed certificate")
	}
	if !safetext.Safe(err.Error()) {
		t.Errorf("error carries the certificate's control characters raw: %q", err.Error())
	}
}

// Found by the hostile review (error lines), fixed since: Go's transport quotes a malformed status line
// whole in its error ("malformed HTTP response %q"); the registry package
// cuts only the URL of such errors, so a server's 1 MiB status line (the
// header limit) becomes a 1 MiB "one line" error for the user.
func TestMalformedStatusLineIsCut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				buf := make([]byte, 4096)
				conn.Read(buf) // the request (or a TLS hello)
				conn.Write([]byte(strings.Repeat("A", 200<<10) + "\r\n\r\n"))
			}()
		}
	}()
	c := newTestClient(t, Options{})
	ref, err := ParseReference(ln.Addr().String() + "/hostile/app:latest")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Resolve(testCtx(t), ref, Platform{OS: "linux", Architecture: "amd64"})
	if err == nil {
		t.Fatal("Resolve succeeded against garbage")
	}
	if n := len(err.Error()); n > 2000 {
		t.Errorf("error is %d bytes long (a server's status line, whole): %.200q…", n, err.Error())
	}
}
