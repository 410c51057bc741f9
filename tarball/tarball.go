// Package tarball is a pull.Source for a plain rootfs tarball, the kind
// Alpine's minirootfs, proot-distro, LXC and distributions publish: a
// file or an http(s) URL, gzip, xz, zstd, bzip2 or plain tar (by its
// magic bytes, decoded by package decompress), with no image config.
//
// With an expected sha256 (--sha256), the tarball is verified as a
// registry blob is: hashed while it is applied, and the rootfs is marked
// ready only when the hash matched. Without one the pull says it was not
// verified. A single top-level directory ("alpine-3.20/bin/…") is
// stripped, as proot-distro's --strip-components does. The container
// starts /bin/sh as a login shell, with Docker's default PATH and the
// HOME /etc/passwd gives root.
package tarball

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
	"github.com/rootfs-pull/rootfs-pull/registry"
)

// Options say how to open a tarball.
type Options struct {
	// SHA256 is the tarball's expected sha256 (hex, or "sha256:HEX");
	// empty: not verified.
	SHA256 string
	// Size is its expected size, when known (an LXC index gives it).
	Size int64
	// HTTP fetches a URL (nil: a client with bounded timeouts).
	HTTP *http.Client
	// Name is how messages name it (default: the path or URL), and
	// FullName the identity its rootfs records (default: the file's
	// absolute path or the URL).
	Name, FullName string
	// Config is the image config to start it with (default: /bin/sh as
	// a login shell); Platform in it, if set, is the tarball's.
	Config *ocispec.Image
	// StallTimeout cuts a download that sends nothing for this long
	// (default 60 s).
	StallTimeout time.Duration
}

// Source is a rootfs tarball.
type Source struct {
	path, url string
	want      digest.Digest // expected, or "" (not verified)
	o         Options
}

// LoginShell is the command a rootfs without an image config starts.
var LoginShell = []string{"/bin/sh", "-l"}

// ErrSHA256: the --sha256 given is not 64 hex digits.
var ErrSHA256 = errors.New("want 64 hex digits (sha256sum's output)")

// ParseSHA256 reads a sha256 as sha256sum prints it, or as sha256:HEX.
func ParseSHA256(s string) (digest.Digest, error) {
	h := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "sha256:"))
	if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("sha256 %q: %w", safetext.Cut(s, 80), ErrSHA256)
	}
	return digest.NewDigestFromEncoded(digest.SHA256, h), nil
}

// Open opens the tarball at path or URL (http:// or https://).
func Open(ref string, o Options) (*Source, error) {
	s := &Source{o: o}
	if o.SHA256 != "" {
		d, err := ParseSHA256(o.SHA256)
		if err != nil {
			return nil, err
		}
		s.want = d
	}
	if strings.HasPrefix(ref, "https://") || strings.HasPrefix(ref, "http://") {
		u, err := url.Parse(ref)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("%q is not a URL", safetext.Cut(ref, 120))
		}
		if u.Scheme == "http" && !loopback(u.Hostname()) {
			return nil, fmt.Errorf("%s: plain http is refused (anyone on the way could change the rootfs): use https", safetext.Cut(ref, 120))
		}
		s.url = ref
	} else {
		s.path = ref
	}
	if s.o.Name == "" {
		s.o.Name = ref
	}
	if s.o.StallTimeout == 0 {
		s.o.StallTimeout = 60 * time.Second
	}
	return s, nil
}

// loopback: host is a loopback address (tests' servers); a name is not
// trusted to be one.
func loopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Resolve implements pull.Source: the tarball as a one-layer image.
func (s *Source) Resolve(ctx context.Context, want registry.Platform) (*registry.Image, error) {
	im := &registry.Image{Name: s.o.Name, Unverified: s.want == ""}
	layer := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: s.want, Size: s.o.Size}
	if s.path != "" {
		abs, err := filepath.Abs(s.path)
		if err != nil {
			return nil, err
		}
		im.FullName = "file:" + abs
		size, err := sniffFile(s.path)
		if err != nil {
			return nil, err
		}
		layer.Size = size
		if s.want == "" {
			// Not verified, but named: the file's own hash tells an
			// unchanged file (up to date) from a new one (--update), and
			// a file that changes while it is applied fails.
			d, err := hashFile(ctx, s.path)
			if err != nil {
				return nil, err
			}
			layer.Digest = d
		}
	} else {
		// Nothing is downloaded yet: a rootfs already up to date (same
		// --sha256) needs no byte of it.
		im.FullName = s.url
	}
	im.Digest = layer.Digest // "" for a URL without --sha256: never up to date
	if s.o.FullName != "" {
		im.FullName = s.o.FullName
	}
	var cfg ocispec.Image
	if s.o.Config != nil {
		cfg = *s.o.Config
	} else {
		cfg.Config.Cmd = LoginShell
	}
	if cfg.Architecture == "" {
		// A tarball says nothing of its platform: it is taken to be the
		// one asked for (this machine's by default).
		cfg.OS, cfg.Architecture, cfg.Variant = want.OS, want.Architecture, want.Variant
	}
	cfg.RootFS.Type = "layers"
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	im.Config, im.RawConfig = cfg, raw
	im.Platform = registry.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}.Normalize()
	im.Manifest.Config = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
	im.Manifest.Layers = []ocispec.Descriptor{layer}
	return im, nil
}

// Blob implements pull.Source: the tarball's bytes, checked at their end
// against the expected sha256 (and size) when there is one.
func (s *Source) Blob(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	var rc io.ReadCloser
	if s.path != "" {
		f, err := os.Open(s.path)
		if err != nil {
			return nil, err
		}
		rc = f
	} else {
		resp, err := s.get(ctx)
		if err != nil {
			return nil, err
		}
		rc = newStallReader(resp.Body, s.o.StallTimeout)
	}
	if desc.Digest == "" {
		return rc, nil
	}
	return &verifier{r: rc, want: desc.Digest, size: desc.Size, h: sha256.New()}, nil
}

// get starts the download of the URL.
func (s *Source) get(ctx context.Context) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "rootfs-pull")
	c := s.o.HTTP
	if c == nil {
		c = DefaultHTTP(nil)
	}
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("download %s: %w", safetext.Cut(s.url, 120), err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("download %s: %d %s", safetext.Cut(s.url, 120), resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return resp, nil
}

// DefaultHTTP is the client for one tarball URL or LXC server, with a
// registry client's network rules (registry.NewHostClient): the host of
// its first request is the one the user named; a redirect elsewhere is
// checked on the address dialed (never link-local or cloud metadata,
// loopback or private only when the named host is), never goes from https
// down to plain http, and plain http only to loopback addresses; a
// response that stalls or trickles is cut. r resolves names (rootfs-pull's
// own resolver; nil: the system's).
func DefaultHTTP(r registry.Resolver) *http.Client {
	c, err := registry.NewHostClient(registry.Options{Resolver: r})
	if err != nil { // only a CA file can make it fail, and none is given
		return &http.Client{Transport: failTransport{err}}
	}
	return c
}

type failTransport struct{ err error }

func (f failTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, f.err }

// hashFile is the sha256 of the file at p.
func hashFile(ctx context.Context, p string) (digest.Digest, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, f}); err != nil {
		return "", err
	}
	return digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil))), nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// verifier checks the sha256 (and the size, when known) at the end.
type verifier struct {
	r    io.ReadCloser
	want digest.Digest
	size int64
	h    hash.Hash
	n    int64
	err  error
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.size > 0 && v.n > v.size {
		v.err = &registry.VerifyError{What: "tarball", Expected: v.want, Size: v.size, Got: v.n}
		return n, v.err
	}
	if err == io.EOF {
		got := digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(v.h.Sum(nil)))
		switch {
		case v.size > 0 && v.n != v.size:
			v.err = &registry.VerifyError{What: "tarball", Expected: v.want, Size: v.size, Got: v.n}
		case got != v.want:
			v.err = &registry.VerifyError{What: "tarball", Expected: v.want, Actual: got}
		default:
			v.err = io.EOF
		}
		return n, v.err
	}
	return n, err
}

func (v *verifier) Close() error { return v.r.Close() }
