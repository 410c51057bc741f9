// Package testregistry runs the real Docker registry server
// (github.com/distribution/distribution/v3) in process on 127.0.0.1, open
// or behind a token server that behaves like Docker Hub's: anonymous
// tokens for public repositories, credentials for private ones, JWTs the
// registry verifies. Tests, the benchmark and `make demo` use it.
package testregistry

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/sirupsen/logrus"

	_ "github.com/distribution/distribution/v3/registry/auth/token"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

// Options configure a registry.
type Options struct {
	// Dir holds the registry's storage; a temporary directory if empty.
	Dir string
	// Addr to listen on; "127.0.0.1:0" if empty.
	Addr string
	// TokenAuth puts the registry behind a token server.
	TokenAuth bool
	// Users the token server accepts (name → password).
	Users map[string]string
	// PrivatePrefix: repositories whose name starts with it are pullable
	// only with credentials (others anonymously, like Docker Hub's public
	// ones). Pushing always needs credentials.
	PrivatePrefix string
}

// Registry is a running registry.
type Registry struct {
	Host string // 127.0.0.1:port
	Dir  string // storage root

	opts      Options
	srv       *http.Server
	tokenSrv  *http.Server
	tokenURL  string
	handler   atomic.Pointer[http.Handler]
	mu        sync.Mutex
	key       *ecdsa.PrivateKey
	kid       string
	ownDir    bool
	cancelApp context.CancelFunc

	// TokenRequests counts token requests answered (any outcome).
	TokenRequests atomic.Int64
}

// Start starts a registry. Close stops it.
func Start(opts Options) (*Registry, error) {
	// The registry logs refusals tests provoke on purpose; show them only
	// when asked.
	logrus.SetLevel(logrus.ErrorLevel)
	logrus.SetOutput(io.Discard)
	if os.Getenv("TESTREGISTRY_LOG") != "" {
		logrus.SetLevel(logrus.InfoLevel)
		logrus.SetOutput(os.Stderr)
	}
	r := &Registry{opts: opts, Dir: opts.Dir}
	if r.Dir == "" {
		d, err := os.MkdirTemp("", "testregistry-")
		if err != nil {
			return nil, err
		}
		r.Dir, r.ownDir = d, true
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	r.Host = ln.Addr().String()
	if opts.TokenAuth {
		tln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			ln.Close()
			return nil, err
		}
		r.tokenURL = "http://" + tln.Addr().String() + "/token"
		r.tokenSrv = &http.Server{Handler: http.HandlerFunc(r.serveToken), ReadHeaderTimeout: 10 * time.Second}
		go r.tokenSrv.Serve(tln)
		if err := r.RotateTokenKey(); err != nil {
			r.Close()
			ln.Close()
			return nil, err
		}
	} else if err := r.newApp(); err != nil {
		ln.Close()
		return nil, err
	}
	r.srv = &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { (*r.handler.Load()).ServeHTTP(w, req) }),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go r.srv.Serve(ln)
	return r, nil
}

// Close stops the servers and removes a temporary storage directory.
func (r *Registry) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if r.srv != nil {
		r.srv.Shutdown(ctx)
	}
	if r.tokenSrv != nil {
		r.tokenSrv.Shutdown(ctx)
	}
	if r.cancelApp != nil {
		r.cancelApp()
	}
	if r.ownDir {
		os.RemoveAll(r.Dir)
	}
}

// RotateTokenKey makes the token server sign with a new key and the
// registry trust only that one: every token issued before is now refused,
// as an expired one is.
func (r *Registry) RotateTokenKey() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	kid := fmt.Sprintf("key-%d", time.Now().UnixNano())
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: kid, Algorithm: string(jose.ES256), Use: "sig"}}}
	b, err := json.Marshal(jwks)
	if err != nil {
		return err
	}
	path := filepath.Join(r.Dir, "jwks-"+kid+".json")
	if err := os.WriteFile(path, b, 0644); err != nil {
		return err
	}
	r.mu.Lock()
	r.key, r.kid = key, kid
	r.mu.Unlock()
	return r.newApp(path)
}

// newApp builds the distribution app (with token auth when jwks is given)
// and serves it from now on.
func (r *Registry) newApp(jwks ...string) (err error) {
	cfg := &configuration.Configuration{}
	cfg.Storage = configuration.Storage{"filesystem": configuration.Parameters{"rootdirectory": filepath.Join(r.Dir, "storage")}}
	cfg.Storage["maintenance"] = configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}}
	cfg.Log.Level = "error"
	cfg.HTTP.Addr = r.Host
	cfg.HTTP.Secret = "test-secret"
	cfg.Validation.Manifests.URLs.Allow = []string{`^https?://127\.0\.0\.1(:[0-9]+)?/`}
	if len(jwks) > 0 {
		cfg.Auth = configuration.Auth{"token": configuration.Parameters{
			"realm":   r.tokenURL,
			"service": "test-registry",
			"issuer":  "test-token-server",
			"jwks":    jwks[0],
		}}
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("start registry: %v", p)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	var h http.Handler = handlers.NewApp(ctx, cfg)
	old := r.cancelApp
	r.cancelApp = cancel
	r.handler.Store(&h)
	if old != nil {
		old()
	}
	return nil
}

// BlobPath is where the registry's storage keeps a blob's bytes (tests
// tamper with it to make the real server serve corrupt data).
func (r *Registry) BlobPath(digest string) string {
	algo, hex, _ := strings.Cut(digest, ":")
	return filepath.Join(r.Dir, "storage", "docker", "registry", "v2", "blobs", algo, hex[:2], hex, "data")
}

type resourceActions struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// serveToken is the token endpoint: GET ?service=…&scope=repository:N:A.
func (r *Registry) serveToken(w http.ResponseWriter, req *http.Request) {
	r.TokenRequests.Add(1)
	user, authed := "", false
	if u, p, ok := req.BasicAuth(); ok {
		want, known := r.opts.Users[u]
		if !known || want != p {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"details":"incorrect username or password"}`)
			return
		}
		user, authed = u, true
	}
	var access []resourceActions
	for _, scope := range req.URL.Query()["scope"] {
		parts := strings.Split(scope, ":")
		if len(parts) < 3 || parts[0] != "repository" {
			continue
		}
		name := strings.Join(parts[1:len(parts)-1], ":")
		var granted []string
		for _, a := range strings.Split(parts[len(parts)-1], ",") {
			private := r.opts.PrivatePrefix != "" && strings.HasPrefix(name, r.opts.PrivatePrefix)
			if authed || (a == "pull" && !private) {
				granted = append(granted, a)
			}
		}
		access = append(access, resourceActions{Type: "repository", Name: name, Actions: granted})
	}
	tok, err := r.sign(user, req.URL.Query().Get("service"), access)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"token": tok, "access_token": tok, "expires_in": 300, "issued_at": time.Now().UTC().Format(time.RFC3339)})
}

func (r *Registry) sign(subject, audience string, access []resourceActions) (string, error) {
	r.mu.Lock()
	key, kid := r.key, r.kid
	r.mu.Unlock()
	if key == nil {
		return "", errors.New("no signing key")
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		return "", err
	}
	now := time.Now()
	claims := map[string]any{
		"iss": "test-token-server", "sub": subject, "aud": audience,
		"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix(),
		"jti": fmt.Sprint(now.UnixNano()), "access": access,
	}
	return jwt.Signed(signer).Claims(claims).Serialize()
}
