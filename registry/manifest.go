package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
)

// Media types of Docker's formats (OCI's are in ocispec).
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerSchema1      = "application/vnd.docker.distribution.manifest.v1+json"
	MediaTypeDockerSchema1JWS   = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	MediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
)

// manifestAccept is the Accept header for manifest requests: every kind we
// can use, so registries do not down-convert to schema 1.
var manifestAccept = strings.Join([]string{
	ocispec.MediaTypeImageIndex,
	MediaTypeDockerManifestList,
	ocispec.MediaTypeImageManifest,
	MediaTypeDockerManifest,
}, ", ")

// Size limits for documents read into memory.
const (
	maxManifestSize = 4 << 20
	maxConfigSize   = 32 << 20
)

// Image is a resolved, verified image: the platform-specific manifest, its
// config, and where they came from.
type Image struct {
	Ref         Reference     // as asked for
	Source      Reference     // where it was found: Ref, or a mirror's name for it
	Digest      digest.Digest // of the image manifest
	IndexDigest digest.Digest // of the index it was chosen from, if any
	MediaType   string        // of the image manifest
	Platform    Platform
	Offered     []Platform // what the index offered (empty without an index)
	Manifest    ocispec.Manifest
	RawManifest []byte
	Config      ocispec.Image
	RawConfig   []byte

	// Name and FullName name an image that came from elsewhere than a
	// registry (an archive, an OCI layout, a rootfs tarball, an LXC
	// server), whose Ref is zero: see DisplayName and Identity.
	Name, FullName string
	// Unverified: nothing the source trusts confirms the layers' bytes (a
	// rootfs tarball without --sha256). Every other image's layers each
	// have a digest or a diff_id that is checked.
	Unverified bool
}

// DisplayName is how messages name the image: "ubuntu:24.04" for a
// registry's, the source's own name otherwise.
func (im *Image) DisplayName() string {
	if im.Name != "" {
		return im.Name
	}
	return im.Ref.Familiar()
}

// Identity is what a rootfs records as the image it holds: the same
// identity at another digest is an update (a tag that moved, an archive
// replaced by a newer one), anything else another image.
func (im *Image) Identity() string {
	if im.FullName != "" {
		return im.FullName
	}
	return im.Ref.String()
}

// Size is the total compressed size of the image's layers.
func (im *Image) Size() int64 {
	var n int64
	for _, l := range im.Manifest.Layers {
		n += l.Size
	}
	return n
}

// Resolve fetches ref's manifest, and when it is an index, the manifest for
// want; then the image config. Every document is verified against the
// digest it was named by (a pull by digest verifies the top manifest too).
//
// With mirrors for ref's registry, each is asked in order before the
// registry itself; the first that has the image serves it (its blobs too).
func (c *Client) Resolve(ctx context.Context, ref Reference, want Platform) (*Image, error) {
	var errs []error
	for _, src := range c.sources(ref) {
		im, err := c.resolveFrom(ctx, src, want)
		if err == nil {
			im.Ref, im.Source = ref, src
			c.served.Store(ref.String(), src)
			return im, nil
		}
		var pe *PlatformError
		if ctx.Err() != nil || errors.As(err, &pe) || errors.Is(err, ErrUnsupported) {
			return nil, err // the image is there; another source has the same
		}
		errs = append(errs, err)
	}
	return nil, sourceError(errs)
}

func (c *Client) resolveFrom(ctx context.Context, ref Reference, want Platform) (*Image, error) {
	raw, mt, dgst, err := c.fetchManifest(ctx, ref, ref.Identifier(), ref.Digest)
	if err != nil {
		return nil, err
	}
	im := &Image{Ref: ref}
	switch mt {
	case ocispec.MediaTypeImageIndex, MediaTypeDockerManifestList:
		idx, err := ParseIndex(raw)
		if err != nil {
			return nil, fmt.Errorf("manifest list of %s: %w", ref.Familiar(), err)
		}
		chosen, offered, ok := SelectManifest(idx.Manifests, want)
		im.Offered = offered
		if !ok {
			return nil, &PlatformError{Want: want, Offered: offered}
		}
		im.IndexDigest = dgst
		raw, mt, dgst, err = c.fetchManifest(ctx, ref, chosen.Digest.String(), chosen.Digest)
		if err != nil {
			return nil, err
		}
		if mt != ocispec.MediaTypeImageManifest && mt != MediaTypeDockerManifest {
			return nil, fmt.Errorf("manifest %s for %s: %w media type %q inside an index", chosen.Digest, want, ErrUnsupported, safetext.Cut(mt, 80))
		}
	case ocispec.MediaTypeImageManifest, MediaTypeDockerManifest:
	case MediaTypeDockerSchema1, MediaTypeDockerSchema1JWS:
		return nil, fmt.Errorf("%s uses Docker's schema 1 manifest, retired in 2019: %w (ask its publisher to push it again with a current Docker)", ref.Familiar(), ErrUnsupported)
	default:
		return nil, fmt.Errorf("%s: %w manifest media type %q (this is not a container image)", ref.Familiar(), ErrUnsupported, safetext.Cut(mt, 80))
	}
	im.Digest, im.MediaType, im.RawManifest = dgst, mt, raw
	if im.Manifest, err = ParseManifest(raw); err != nil {
		return nil, fmt.Errorf("manifest %s of %s: %w", dgst, ref.Familiar(), err)
	}
	if err := c.readConfig(ctx, im); err != nil {
		return nil, err
	}
	im.Platform = Platform{OS: im.Config.OS, Architecture: im.Config.Architecture, Variant: im.Config.Variant}.Normalize()
	if im.IndexDigest == "" {
		// A single-platform image: check it is the platform asked for,
		// as Docker does, so an arm64 phone is not handed amd64 binaries.
		if _, ok := matchRank(want, im.Platform); !ok && im.Config.Architecture != "" {
			return nil, &PlatformError{Want: want, Offered: []Platform{im.Platform}}
		}
	}
	return im, nil
}

// readConfig fetches and verifies the config blob and checks it agrees
// with the manifest's layer count.
func (c *Client) readConfig(ctx context.Context, im *Image) error {
	desc := im.Manifest.Config
	if desc.Size > maxConfigSize {
		return fmt.Errorf("config %s: %d bytes is more than the %d this tool reads", desc.Digest, desc.Size, maxConfigSize)
	}
	raw, err := c.readBlob(ctx, im.Ref, desc)
	var ve *VerifyError
	if errors.As(err, &ve) && ve.Cached {
		raw, err = c.readBlob(ctx, im.Ref, desc) // the bad cached copy is gone
	}
	if err != nil {
		return fmt.Errorf("config %s: %w", desc.Digest, err)
	}
	if err := json.Unmarshal(raw, &im.Config); err != nil {
		return fmt.Errorf("config %s: %w", desc.Digest, err)
	}
	im.RawConfig = raw
	if n, m := len(im.Config.RootFS.DiffIDs), len(im.Manifest.Layers); n != m {
		return fmt.Errorf("config %s lists %d layer diff_ids for %d layers: the image is malformed", desc.Digest, n, m)
	}
	return nil
}

func (c *Client) readBlob(ctx context.Context, ref Reference, desc ocispec.Descriptor) ([]byte, error) {
	rc, err := c.Blob(ctx, ref, desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// fetchManifest GETs one manifest, bounded in size, and returns its bytes,
// media type and digest; when want is set the bytes must hash to it.
func (c *Client) fetchManifest(ctx context.Context, ref Reference, id string, want digest.Digest) ([]byte, string, digest.Digest, error) {
	base, err := c.baseURL(ctx, ref.Host())
	if err != nil {
		return nil, "", "", err
	}
	url := fmt.Sprintf("%s/v2/%s/manifests/%s", base, ref.Path, id)
	resp, err := c.do(ctx, http.MethodGet, url, http.Header{"Accept": {manifestAccept}})
	if err != nil {
		return nil, "", "", fmt.Errorf("manifest %s: %w", ref.Familiar(), err)
	}
	defer resp.Body.Close()
	if resp.ContentLength > maxManifestSize {
		return nil, "", "", fmt.Errorf("manifest %s: %d bytes is more than the %d this tool reads", ref.Familiar(), resp.ContentLength, maxManifestSize)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestSize+1))
	if err != nil {
		return nil, "", "", fmt.Errorf("manifest %s: %w", ref.Familiar(), err)
	}
	if len(raw) > maxManifestSize {
		return nil, "", "", fmt.Errorf("manifest %s: more than the %d bytes this tool reads", ref.Familiar(), maxManifestSize)
	}
	got := digest.FromBytes(raw)
	if want != "" && got != want {
		algo := want.Algorithm()
		if algo.Available() && algo != digest.SHA256 {
			got = algo.FromBytes(raw)
		}
		if got != want {
			return nil, "", "", &VerifyError{What: "manifest", Expected: want, Actual: got}
		}
	}
	return raw, manifestMediaType(resp.Header.Get("Content-Type"), raw), got, nil
}

// manifestMediaType prefers the document's own mediaType field and falls
// back to Content-Type (some registries send a generic one).
func manifestMediaType(contentType string, raw []byte) string {
	var doc struct {
		MediaType     string          `json:"mediaType"`
		SchemaVersion int             `json:"schemaVersion"`
		Manifests     json.RawMessage `json:"manifests"`
		Config        json.RawMessage `json:"config"`
	}
	_ = json.Unmarshal(raw, &doc)
	if doc.MediaType != "" {
		return doc.MediaType
	}
	if ct, _, err := mime.ParseMediaType(contentType); err == nil && ct != "application/json" && ct != "text/plain" {
		return ct
	}
	switch {
	case doc.SchemaVersion == 1:
		return MediaTypeDockerSchema1
	case doc.Manifests != nil:
		return ocispec.MediaTypeImageIndex
	case doc.Config != nil:
		return ocispec.MediaTypeImageManifest
	}
	return contentType
}

// DocumentMediaType is the media type of a manifest or index document:
// its own mediaType field, else hint (a descriptor's or a Content-Type),
// else what its fields say it is.
func DocumentMediaType(raw []byte, hint string) string { return manifestMediaType(hint, raw) }
