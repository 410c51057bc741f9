// Package archive reads images that were saved rather than pushed, as
// pull.Sources: a `docker save` archive (docker-archive:FILE.tar[.gz],
// rootfs-pull save's output too), an OCI image layout directory
// (oci:DIR) and one in a tar (oci-archive:FILE.tar), with skopeo's
// transport syntax for naming one image of several.
//
// Archives are treated as hostile. They are never extracted: a tar is
// indexed, and each file is read by scanning to it. Only names the
// archive's own documents give are read, and only when relative and
// clean, inside the layout (os.Root) or the tar (symlinks followed inside
// it, a few hops); OCI blobs are found by their validated digest alone.
// Documents are bounded in size, descriptors validated as a registry's
// are, and every blob is verified: by its digest when it has one, and
// each layer's tar stream by the config's diff_id (checked by the pull).
// A docker save config is verified against the digest its name carries.
package archive

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/decompress"
	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
	"github.com/rootfs-pull/rootfs-pull/registry"
)

// Size limits for documents read into memory, as for a registry's.
const (
	maxDocument = 4 << 20  // manifest.json, index.json, a manifest
	maxConfig   = 32 << 20 // an image config
)

// readDoc reads a whole small file from s, at most max bytes.
func readDoc(ctx context.Context, s store, name string, max int64) ([]byte, error) {
	rc, size, err := s.open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if size > max {
		return nil, fmt.Errorf("%s: %d bytes is more than the %d this tool reads", safetext.Cut(name, 120), size, max)
	}
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", safetext.Cut(name, 120), err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: more than the %d bytes this tool reads", safetext.Cut(name, 120), max)
	}
	return b, nil
}

// readVerified reads the blob desc from name, checking its size and digest.
func readVerified(ctx context.Context, s store, name string, desc ocispec.Descriptor, max int64) ([]byte, error) {
	if desc.Size > max {
		return nil, fmt.Errorf("%s: %d bytes is more than the %d this tool reads", registry.ShortDigest(desc.Digest), desc.Size, max)
	}
	rc, _, err := s.open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(registry.NewVerifier(rc, desc))
}

// parseConfig decodes an image config and checks it has one diff_id per
// layer, each a valid digest.
func parseConfig(raw []byte, layers int) (ocispec.Image, error) {
	var img ocispec.Image
	if err := json.Unmarshal(raw, &img); err != nil {
		return img, fmt.Errorf("image config: %w", err)
	}
	if n := len(img.RootFS.DiffIDs); n != layers {
		return img, fmt.Errorf("image config lists %d layer diff_ids for %d layers: the image is malformed", n, layers)
	}
	for i, d := range img.RootFS.DiffIDs {
		if err := d.Validate(); err != nil {
			return img, fmt.Errorf("image config: diff_id %d %q: %v: %w", i+1, safetext.Cut(string(d), 80), err, registry.ErrMalformed)
		}
	}
	return img, nil
}

// checkLayers refuses, before anything is written, layers whose media
// type is not a layer's.
func checkLayers(layers []ocispec.Descriptor) error {
	for i, l := range layers {
		if _, err := decompress.FormatOf(l.MediaType); err != nil {
			return fmt.Errorf("layer %d: %w", i+1, err)
		}
	}
	return nil
}

// checkPlatform refuses an image for another platform than want, as a
// registry pull of a single-platform image does.
func checkPlatform(im *registry.Image, want registry.Platform) error {
	im.Platform = registry.Platform{OS: im.Config.OS, Architecture: im.Config.Architecture, Variant: im.Config.Variant}.Normalize()
	if im.Config.Architecture != "" && !registry.Matches(want, im.Platform) {
		return &registry.PlatformError{Want: want, Offered: []registry.Platform{im.Platform}}
	}
	return nil
}

// blobName is where an OCI layout keeps the blob d.
func blobName(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("blob %q: %v: %w", safetext.Cut(string(d), 80), err, registry.ErrMalformed)
	}
	return "blobs/" + d.Algorithm().String() + "/" + d.Encoded(), nil
}
