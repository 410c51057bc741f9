package registry

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fakeNet stands in for DNS and distant hosts: names resolve as listed,
// and addresses in 203.0.113.0/24 (TEST-NET-3, "public") are dialed on
// 127.0.0.1 at the same port, so a test server on loopback can play a
// registry or a CDN on the internet. Any other dial fails the test: the
// guard must refuse it before it is made.
func fakeNet(t *testing.T, c *Client, names map[string]string) {
	t.Helper()
	public := netip.MustParsePrefix("203.0.113.0/24")
	c.guard.lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
		a, ok := names[strings.ToLower(host)]
		if !ok {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		return []netip.Addr{netip.MustParseAddr(a)}, nil
	}
	c.guard.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			t.Errorf("dial %s: not an address (a name reached the dialer)", addr)
			return nil, err
		}
		if public.Contains(ap.Addr()) {
			addr = fmt.Sprintf("127.0.0.1:%d", ap.Port())
		} else if !ap.Addr().IsLoopback() {
			t.Errorf("dialed %s", addr)
			return nil, errors.New("test: dial refused")
		}
		return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
	}
}

func port(s *httptest.Server) string {
	_, p, _ := net.SplitHostPort(s.Listener.Addr().String())
	return p
}

// imageOn puts a one-layer amd64 image on f under tag and returns the layer.
func imageOn(f *fakeRegistry, tag string) ocispec.Descriptor {
	cfg := f.addBlob(ocispec.MediaTypeImageConfig, goodConfig(1))
	layer := f.addBlob(ocispec.MediaTypeImageLayerGzip, []byte("layer bytes"))
	f.addManifest(tag, ocispec.MediaTypeImageManifest, map[string]any{
		"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageManifest, "config": cfg, "layers": []ocispec.Descriptor{layer}})
	return layer
}

// withToken makes f demand a bearer token from realm.
func withToken(f *fakeRegistry, realm string) {
	f.before = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Authorization") == "Bearer good" {
			return false
		}
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q,service="fake",scope="repository:hostile/app:pull"`, realm))
		w.WriteHeader(http.StatusUnauthorized)
		return true
	}
}

// tokenServer answers every token request with "good", counting them.
func tokenServer(t *testing.T, useTLS bool) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, `{"token":"good"}`)
	})
	var s *httptest.Server
	if useTLS {
		s = httptest.NewTLSServer(h)
	} else {
		s = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s, &hits
}

func caFileFor(t *testing.T, s *httptest.Server) string {
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}), 0644); err != nil {
		t.Fatal(err)
	}
	return p
}

func newTestClient(t *testing.T, opts Options) *Client {
	t.Helper()
	opts.NoDockerConfig = true
	opts.Retry = RetryPolicy{Attempts: 2, Backoff: 10 * time.Millisecond, MaxWait: 10 * time.Millisecond}
	c, err := NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var amd64 = Platform{OS: "linux", Architecture: "amd64"}

// fetchLayer resolves ref and reads its first layer to the end.
func fetchLayer(ctx context.Context, c *Client, ref Reference, layer ocispec.Descriptor) error {
	rc, err := c.Blob(ctx, ref, layer)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	return err
}

// A token realm at a link-local or cloud metadata address is never
// requested, even from a registry on loopback (and even as an IPv4-mapped
// IPv6 address). Before, the realm check was switched off entirely.
func TestRealmRefusesMetadataAddresses(t *testing.T) {
	for _, realm := range []string{
		"http://169.254.169.254/latest/api/token",
		"http://[::ffff:169.254.169.254]/latest/api/token",
		"http://[fe80::1]/token",
		"http://[fd00:ec2::254]/token",
		"http://0.0.0.0:1/token",
	} {
		t.Run(realm, func(t *testing.T) {
			f := newFakeRegistry(t)
			imageOn(f, "v1")
			withToken(f, realm)
			c := newTestClient(t, Options{})
			start := time.Now()
			_, err := c.Resolve(testCtx(t), f.ref(t, "v1"), amd64)
			if !errors.Is(err, ErrRefusedAddress) {
				t.Fatalf("err = %v, want ErrRefusedAddress", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("refusal took %v", d)
			}
		})
	}
}

// A realm named by a host name is checked on the address the name
// resolves to, the one dialed: a name for the metadata address is refused,
// as is a .localhost name that does not resolve to loopback.
func TestRealmCheckedOnTheAddressDialed(t *testing.T) {
	for _, realm := range []string{"https://metadata.test/token", "https://sneaky.localhost/token", "http://sneaky.localhost/token"} {
		t.Run(realm, func(t *testing.T) {
			f := newFakeRegistry(t)
			imageOn(f, "v1")
			withToken(f, realm)
			c := newTestClient(t, Options{})
			fakeNet(t, c, map[string]string{"metadata.test": "169.254.169.254", "sneaky.localhost": "169.254.169.254"})
			_, err := c.Resolve(testCtx(t), f.ref(t, "v1"), amd64)
			if !errors.Is(err, ErrRefusedAddress) || !strings.Contains(err.Error(), "169.254.169.254") {
				t.Fatalf("err = %v, want ErrRefusedAddress naming 169.254.169.254", err)
			}
		})
	}
}

// A registry on the internet may not send the client to loopback or
// private addresses for its tokens; the same realm on the registry's own
// (public) host works.
func TestRealmLoopbackOnlyForLoopbackRegistry(t *testing.T) {
	tok, hits := tokenServer(t, true)
	for _, tt := range []struct {
		realm string
		ok    bool
	}{
		{"https://example.com:" + port(tok) + "/token", true},
		{"https://127.0.0.1:" + port(tok) + "/token", false},
		{"https://localhost:" + port(tok) + "/token", false},
		{"https://tokens.test:" + port(tok) + "/token", false}, // resolves to loopback
		{"https://10.1.2.3/token", false},
		{"https://private.test/token", false}, // resolves to 192.168.1.1
	} {
		t.Run(tt.realm, func(t *testing.T) {
			f := startFake(t, true)
			imageOn(f, "v1")
			withToken(f, tt.realm)
			c := newTestClient(t, Options{CAFile: caFileFor(t, f.Server)})
			fakeNet(t, c, map[string]string{"example.com": "203.0.113.10", "localhost": "127.0.0.1", "tokens.test": "127.0.0.1", "private.test": "192.168.1.1"})
			before := hits.Load()
			_, err := c.Resolve(testCtx(t), f.refAt(t, "example.com:"+port(f.Server), "v1"), amd64)
			if tt.ok {
				if err != nil || hits.Load() == before {
					t.Fatalf("err = %v, %d token requests: want a pull with a token", err, hits.Load()-before)
				}
				return
			}
			if !errors.Is(err, ErrRefusedAddress) {
				t.Fatalf("err = %v, want ErrRefusedAddress", err)
			}
			if hits.Load() != before {
				t.Errorf("the token server was asked")
			}
		})
	}
}

// --insecure covers the registry named, not the hosts it sends the client
// to: a blob redirect to another host with an untrusted certificate fails.
func TestInsecureCoversOnlyTheNamedRegistry(t *testing.T) {
	f := startFake(t, true) // httptest's certificate: untrusted
	layer := imageOn(f, "v1")
	cdn := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(f.blobs[layer.Digest.String()]) }))
	defer cdn.Close()
	f.before = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/blobs/"+layer.Digest.String()) {
			http.Redirect(w, r, "https://cdn.test:"+port(cdn)+"/blob", http.StatusTemporaryRedirect)
			return true
		}
		return false
	}
	names := map[string]string{"registry.test": "203.0.113.20", "cdn.test": "203.0.113.21"}
	ctx := testCtx(t)

	c := newTestClient(t, Options{Insecure: true})
	fakeNet(t, c, names)
	ref := f.refAt(t, "registry.test:"+port(f.Server), "v1")
	if _, err := c.Resolve(ctx, ref, amd64); err != nil {
		t.Fatalf("--insecure registry: %v", err)
	}
	err := fetchLayer(ctx, c, ref, layer)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("redirect to an untrusted certificate elsewhere: err = %v, want a certificate error", err)
	}

	c = newTestClient(t, Options{})
	fakeNet(t, c, names)
	if _, err := c.Resolve(ctx, ref, amd64); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without --insecure: err = %v, want a certificate error", err)
	}
}

// Plain HTTP and unverified TLS are allowed to a loopback registry because
// of the address dialed, not the name: x.localhost resolving elsewhere
// gets neither.
func TestLoopbackExemptionIsByAddress(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", useTLS), func(t *testing.T) {
			f := startFake(t, useTLS)
			imageOn(f, "v1")
			c := newTestClient(t, Options{})
			fakeNet(t, c, map[string]string{"localhost": "127.0.0.1", "real.localhost": "127.0.0.1", "x.localhost": "203.0.113.30"})
			ctx := testCtx(t)
			for _, host := range []string{"localhost", "real.localhost", "127.0.0.1"} {
				if _, err := c.Resolve(ctx, f.refAt(t, host+":"+port(f.Server), "v1"), amd64); err != nil {
					t.Errorf("%s (loopback): %v", host, err)
				}
			}
			_, err := c.Resolve(ctx, f.refAt(t, "x.localhost:"+port(f.Server), "v1"), amd64)
			if !errors.Is(err, ErrRefusedAddress) {
				t.Fatalf("x.localhost at a public address: err = %v, want ErrRefusedAddress", err)
			}
		})
	}
}

// A blob redirect from https to plain HTTP is refused, even on loopback;
// https to https is followed.
func TestRedirectToPlainHTTPRefused(t *testing.T) {
	f := startFake(t, true)
	layer := imageOn(f, "v1")
	blob := f.blobs[layer.Digest.String()]
	var plainHits atomic.Int64
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { plainHits.Add(1); w.Write(blob) }))
	defer plain.Close()
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(blob) }))
	defer secure.Close()
	target := ""
	f.before = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/blobs/"+layer.Digest.String()) {
			http.Redirect(w, r, target, http.StatusFound)
			return true
		}
		return false
	}
	ctx := testCtx(t)
	c := newTestClient(t, Options{})
	ref := f.ref(t, "v1")
	if _, err := c.Resolve(ctx, ref, amd64); err != nil {
		t.Fatal(err)
	}
	target = secure.URL + "/blob"
	if err := fetchLayer(ctx, c, ref, layer); err != nil {
		t.Fatalf("redirect https → https: %v", err)
	}
	target = plain.URL + "/blob"
	if err := fetchLayer(ctx, c, ref, layer); !errors.Is(err, ErrRefusedAddress) {
		t.Fatalf("redirect https → http: err = %v, want ErrRefusedAddress", err)
	}
	if plainHits.Load() != 0 {
		t.Errorf("the plain HTTP server was asked")
	}
}

// Foreign-layer URLs go through the same rules: no metadata address, no
// plain HTTP off loopback.
func TestForeignLayerURLsRefused(t *testing.T) {
	for _, u := range []string{"http://169.254.169.254/latest/meta-data/", "http://cdn.test/layer", "https://metadata.test/layer"} {
		t.Run(u, func(t *testing.T) {
			f := newFakeRegistry(t)
			layer := imageOn(f, "v1")
			delete(f.blobs, layer.Digest.String()) // the registry lacks it: the URLs are tried
			layer.URLs = []string{u}
			c := newTestClient(t, Options{})
			fakeNet(t, c, map[string]string{"cdn.test": "203.0.113.40", "metadata.test": "169.254.169.254"})
			ctx := testCtx(t)
			start := time.Now()
			err := fetchLayer(ctx, c, f.ref(t, "v1"), layer)
			if !errors.Is(err, ErrRefusedAddress) {
				t.Fatalf("err = %v, want ErrRefusedAddress", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("refusal took %v", d)
			}
		})
	}
}

// A name with a dead first address (a broken IPv6 route) still connects
// through the next one at once, not after the dial timeout.
func TestDialRacesAddresses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	g := newGuard(false)
	g.lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("203.0.113.60")}, nil
	}
	g.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if strings.HasPrefix(addr, "[2001:db8::1]") {
			<-ctx.Done() // a black hole
			return nil, ctx.Err()
		}
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}
	start := time.Now()
	conn, err := g.dialChecked(testCtx(t), "tcp", "dual.test:"+port(srv), false)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("connected after %v", d)
	}
}
