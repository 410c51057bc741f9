package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
)

// ErrMalformed: a registry sent a document this tool refuses to act on (a
// descriptor with a bad digest, a negative size, too many layers …).
var ErrMalformed = errors.New("malformed document from the registry")

// Bounds on what a manifest or an index may ask of this tool. Docker's
// overlay driver stops at 127 layers and real images have far fewer;
// registries accept more, so the limit is generous but finite: work and
// memory per document stay bounded whatever a registry sends.
const (
	// MaxLayers is the most layers an image manifest may list.
	MaxLayers = 1000
	// MaxIndexEntries is the most manifests an index may list.
	MaxIndexEntries = 1000
	// MaxBlobSize is the largest size a descriptor may declare (4 TiB);
	// the sum over MaxLayers layers cannot overflow an int64.
	MaxBlobSize = 1 << 42
	// maxURLs is the most foreign-layer URLs one descriptor may carry.
	maxURLs = 16
	// maxURLLen bounds one foreign-layer URL.
	maxURLLen = 2048
)

// mediaTypeRE is RFC 6838's type/subtype (each at most 127 characters),
// optionally with parameters of the same alphabet (+json; charset=…).
var mediaTypeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(\s*;\s*[A-Za-z0-9!#$&^_.+-]{1,127}=[A-Za-z0-9!#$&^_.+"-]{0,127}){0,4}$`)

// platformFieldRE is what an os, architecture or variant may be: real ones
// are short lowercase words ("linux", "arm64", "v8", "unknown").
var platformFieldRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ShortDigest is the first 12 hex digits of a valid digest, as Docker
// shows them, and a cut, escaped form of anything else: it never panics,
// whatever the string is.
func ShortDigest(d digest.Digest) string {
	if d.Validate() == nil && len(d.Encoded()) >= 12 {
		return d.Encoded()[:12]
	}
	return safetext.Cut(string(d), 24)
}

// ValidateDescriptor checks a descriptor from a manifest or an index
// before anything uses it: a valid digest (known algorithm, right length,
// lowercase hex), a size from 0 to MaxBlobSize, a sane media type, and at
// most a few http(s) URLs. what names it in the error ("layer 3").
func ValidateDescriptor(what string, d ocispec.Descriptor) error {
	if err := d.Digest.Validate(); err != nil {
		return fmt.Errorf("%s: digest %q: %v: %w", what, safetext.Cut(string(d.Digest), 80), err, ErrMalformed)
	}
	if d.Size < 0 || d.Size > MaxBlobSize {
		return fmt.Errorf("%s %s: size %d is not between 0 and %d: %w", what, ShortDigest(d.Digest), d.Size, int64(MaxBlobSize), ErrMalformed)
	}
	if d.MediaType != "" && !mediaTypeRE.MatchString(d.MediaType) {
		return fmt.Errorf("%s %s: media type %q: %w", what, ShortDigest(d.Digest), safetext.Cut(d.MediaType, 80), ErrMalformed)
	}
	if len(d.URLs) > maxURLs {
		return fmt.Errorf("%s %s: %d URLs, more than %d: %w", what, ShortDigest(d.Digest), len(d.URLs), maxURLs, ErrMalformed)
	}
	for _, u := range d.URLs {
		pu, err := url.Parse(u)
		if len(u) > maxURLLen || err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			return fmt.Errorf("%s %s: URL %q is not an http(s) URL: %w", what, ShortDigest(d.Digest), safetext.Cut(u, 80), ErrMalformed)
		}
	}
	if p := d.Platform; p != nil {
		for _, f := range []string{p.OS, p.Architecture, p.Variant} {
			if f != "" && !platformFieldRE.MatchString(f) {
				return fmt.Errorf("%s %s: platform field %q: %w", what, ShortDigest(d.Digest), safetext.Cut(f, 80), ErrMalformed)
			}
		}
	}
	return nil
}

// ParseManifest decodes an image manifest and validates its config and
// every layer descriptor; at most MaxLayers layers.
func ParseManifest(raw []byte) (ocispec.Manifest, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return ocispec.Manifest{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(m.Layers) > MaxLayers {
		return ocispec.Manifest{}, fmt.Errorf("%d layers, more than the %d this tool accepts: %w", len(m.Layers), MaxLayers, ErrMalformed)
	}
	if err := ValidateDescriptor("config", m.Config); err != nil {
		return ocispec.Manifest{}, err
	}
	for i, l := range m.Layers {
		if err := ValidateDescriptor(fmt.Sprintf("layer %d", i+1), l); err != nil {
			return ocispec.Manifest{}, err
		}
	}
	return m, nil
}

// ParseIndex decodes an image index (or Docker manifest list) and
// validates every entry; at most MaxIndexEntries entries.
func ParseIndex(raw []byte) (ocispec.Index, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		return ocispec.Index{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(idx.Manifests) > MaxIndexEntries {
		return ocispec.Index{}, fmt.Errorf("%d manifests, more than the %d this tool accepts: %w", len(idx.Manifests), MaxIndexEntries, ErrMalformed)
	}
	for i, m := range idx.Manifests {
		if err := ValidateDescriptor(fmt.Sprintf("index entry %d", i+1), m); err != nil {
			return ocispec.Index{}, err
		}
	}
	return idx, nil
}
