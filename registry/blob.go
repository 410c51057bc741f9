package registry

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
)

// Blob opens the blob desc of ref's repository. Reading it to the end
// verifies every byte: the last Read returns a *VerifyError instead of
// io.EOF when the size or digest is wrong. A layer with urls (a foreign
// layer) is fetched from those URLs when the registry lacks it. A transfer
// cut midway, or stalled, continues from the byte it reached with a Range
// request (or, if the server ignores Range, a fresh one whose first bytes
// are skipped): the reader sees one unbroken stream.
func (c *Client) Blob(ctx context.Context, ref Reference, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("blob %q: %w", safetext.Cut(string(desc.Digest), 80), err)
	}
	bc := c.opts.Cache
	if bc != nil {
		if f, ok := bc.Get(desc); ok {
			return &cachedBlob{Verifier: NewVerifier(f, desc), cache: bc, digest: desc.Digest}, nil
		}
	}
	var errs []error
	for _, src := range c.sources(ref) {
		r, err := c.blobFrom(ctx, src, desc)
		if err == nil {
			if bc != nil {
				return bc.Tee(desc, r), nil
			}
			return r, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		errs = append(errs, err)
	}
	return nil, sourceError(errs)
}

func (c *Client) blobFrom(ctx context.Context, ref Reference, desc ocispec.Descriptor) (io.ReadCloser, error) {
	base, err := c.baseURL(ctx, ref.Host())
	if err != nil {
		return nil, err
	}
	url := fmt.Sprintf("%s/v2/%s/blobs/%s", base, ref.Path, desc.Digest)
	var first *http.Response // a probe's 200: the single stream's first answer
	var endFirst context.CancelFunc
	if conns := c.blobConns(ctx); conns > 1 && desc.Size > chunkMin && len(desc.URLs) == 0 {
		cb := &chunkedBlob{size: desc.Size, stall: c.stall, policy: c.retry, resume: &c.resumes, notify: c.opts.OnRetry,
			budget: c.chunkTokens, take: c.takeChunkBuffers, give: c.giveChunkBuffers,
			open: func(ctx context.Context, first, last int64) (*http.Response, error) {
				ctx = context.WithValue(ctx, watchedKey{}, true) // the chunk's own watchdog times the body
				return c.do(ctx, http.MethodGet, url, http.Header{"Range": {fmt.Sprintf("bytes=%d-%d", first, last)}})
			}}
		r, resp, end, err := startChunked(ctx, cb, conns)
		first, endFirst = resp, end
		if err != nil {
			return nil, fmt.Errorf("blob %s: %w", desc.Digest, err)
		}
		if r != nil {
			return NewVerifier(r, desc), nil
		}
		// Range not honoured: one stream, whose own checks judge the server.
	}
	foreign := false
	rb := &resumable{ctx: ctx, size: desc.Size, stall: c.stall, policy: c.retry, resumes: &c.resumes, notify: c.opts.OnRetry}
	rb.open = func(ctx context.Context, off int64) (*http.Response, error) {
		if first != nil && off == 0 {
			// The probe's answer: its request ends when this try's does.
			resp := first
			first = nil
			context.AfterFunc(ctx, endFirst)
			return resp, nil
		}
		ctx = context.WithValue(ctx, watchedKey{}, true) // rb's own watchdog times the body
		var h http.Header
		if off > 0 {
			h = http.Header{"Range": {fmt.Sprintf("bytes=%d-", off)}}
		}
		if foreign {
			return c.foreign(ctx, desc, h)
		}
		resp, err := c.do(ctx, http.MethodGet, url, h)
		if err != nil && errors.Is(err, ErrNotFound) && len(desc.URLs) > 0 {
			foreign = true
			return c.foreign(ctx, desc, h)
		}
		return resp, err
	}
	if err := rb.start(); err != nil {
		if first != nil {
			first.Body.Close()
			endFirst()
		}
		return nil, fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	return NewVerifier(rb, desc), nil
}

// blobConns is how many connections the blob opened with ctx may use.
func (c *Client) blobConns(ctx context.Context) int {
	n := c.opts.BlobConnections
	if n == 0 {
		n = DefaultBlobConnections
	}
	if v, ok := ctx.Value(connsKey{}).(int); ok && v < n {
		n = v
	}
	return min(n, MaxBlobConnections)
}

type connsKey struct{}

// WithBlobConnections returns ctx with blobs opened with it limited to at
// most n connections each (1: one stream), whatever the client's
// Options.BlobConnections. Layers downloaded ahead into the cache use one:
// the chunks' buffers are for the blob being applied.
func WithBlobConnections(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, connsKey{}, n)
}

// HasCache reports whether the client keeps blobs in a cache.
func (c *Client) HasCache() bool { return c.opts.Cache != nil }

// Cached reports whether the cache holds desc (unverified until read).
func (c *Client) Cached(desc ocispec.Descriptor) bool {
	if c.opts.Cache == nil {
		return false
	}
	rc, ok := c.opts.Cache.Get(desc)
	if ok {
		rc.Close()
	}
	return ok
}

// BlobCache keeps verified blobs (package cache implements it).
type BlobCache interface {
	// Get opens a cached blob; the client verifies what is read.
	Get(desc ocispec.Descriptor) (io.ReadCloser, bool)
	// Tee copies a blob as it is read, keeping the copy only when the read
	// ends with io.EOF (verified).
	Tee(desc ocispec.Descriptor, r io.ReadCloser) io.ReadCloser
	// Remove drops a damaged entry.
	Remove(d digest.Digest) error
}

// cachedBlob reads a blob from the cache, verified; a bad copy is dropped
// and reported as a VerifyError with Cached set.
type cachedBlob struct {
	*Verifier
	cache  BlobCache
	digest digest.Digest
}

func (b *cachedBlob) Read(p []byte) (int, error) {
	n, err := b.Verifier.Read(p)
	var ve *VerifyError
	if errors.As(err, &ve) && !ve.Cached {
		ve.Cached = true
		b.cache.Remove(b.digest)
	}
	return n, err
}

// foreign fetches a foreign layer from the first of its URLs that answers.
// Only http and https URLs are tried, without registry credentials.
func (c *Client) foreign(ctx context.Context, desc ocispec.Descriptor, header http.Header) (*http.Response, error) {
	var errs []error
	for _, u := range desc.URLs {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") {
			errs = append(errs, fmt.Errorf("foreign layer url %q: not http(s)", safetext.Cut(u, 80)))
			continue
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := c.once.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			errs = append(errs, shortenURLError(err))
			continue
		}
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
			errs = append(errs, newHTTPError(resp))
			resp.Body.Close()
			continue
		}
		return resp, nil
	}
	return nil, fmt.Errorf("foreign layer: %w", errors.Join(errs...))
}

// Verifier passes a blob through while hashing and counting it.
type Verifier struct {
	r    io.ReadCloser
	desc ocispec.Descriptor
	h    hash.Hash
	n    int64
	err  error // sticky verification result once decided
}

// NewVerifier wraps r so that reading it to the end checks desc's size and
// digest; a mismatch replaces io.EOF with a *VerifyError, and more bytes
// than desc.Size fail at once.
func NewVerifier(r io.ReadCloser, desc ocispec.Descriptor) *Verifier {
	algo := desc.Digest.Algorithm()
	if !algo.Available() {
		algo = digest.Canonical
	}
	return &Verifier{r: r, desc: desc, h: algo.Hash()}
}

// Read implements io.Reader.
func (v *Verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.n > v.desc.Size {
		v.err = &VerifyError{What: "blob", Expected: v.desc.Digest, Size: v.desc.Size, Got: v.n}
		return n, v.err
	}
	if err == io.EOF {
		v.err = v.check()
		return n, v.err
	}
	return n, err
}

func (v *Verifier) check() error {
	if v.n != v.desc.Size {
		return &VerifyError{What: "blob", Expected: v.desc.Digest, Size: v.desc.Size, Got: v.n}
	}
	got := digest.NewDigest(v.desc.Digest.Algorithm(), v.h)
	if got != v.desc.Digest {
		return &VerifyError{What: "blob", Expected: v.desc.Digest, Actual: got}
	}
	return io.EOF
}

// Verified reports whether the whole blob has been read and matched.
func (v *Verifier) Verified() bool { return v.err == io.EOF }

// Close closes the underlying stream.
func (v *Verifier) Close() error { return v.r.Close() }
