package archive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
	"github.com/rootfs-pull/rootfs-pull/registry"
)

// OCI is an OCI image layout, in a directory (oci:DIR) or a tar
// (oci-archive:FILE.tar): oci-layout, index.json and blobs/ALG/HEX. The
// image is the index entry whose org.opencontainers.image.ref.name is
// Tag, or whose digest is Digest, or the only one; an index there picks
// the platform, as a registry's does.
type OCI struct {
	Kind   string // "oci" or "oci-archive", for names
	Path   string
	Tag    string
	Digest digest.Digest
	s      store
}

// OpenOCI opens the layout in dir; tag or dgst (or neither) names the image.
func OpenOCI(dir, tag string, dgst digest.Digest) (*OCI, error) {
	s, err := openDir(dir)
	if err != nil {
		return nil, err
	}
	return &OCI{Kind: "oci", Path: dir, Tag: tag, Digest: dgst, s: s}, nil
}

// OpenOCIArchive opens the layout in the tar file (plain or gzipped).
func OpenOCIArchive(ctx context.Context, file, tag string, dgst digest.Digest) (*OCI, error) {
	s, err := openTar(ctx, file)
	if err != nil {
		return nil, err
	}
	return &OCI{Kind: "oci-archive", Path: file, Tag: tag, Digest: dgst, s: s}, nil
}

func (o *OCI) name(path string) string {
	n := o.Kind + ":" + path
	switch {
	case o.Digest != "":
		n += "@" + o.Digest.String()
	case o.Tag != "":
		n += ":" + o.Tag
	}
	return n
}

// Resolve implements pull.Source.
func (o *OCI) Resolve(ctx context.Context, want registry.Platform) (*registry.Image, error) {
	raw, err := readDoc(ctx, o.s, "oci-layout", 4096)
	if err != nil {
		return nil, fmt.Errorf("%s is not an OCI image layout: %w", o.Path, err)
	}
	var layout ocispec.ImageLayout
	if err := json.Unmarshal(raw, &layout); err != nil || layout.Version != ocispec.ImageLayoutVersion {
		return nil, fmt.Errorf("%s: oci-layout says version %q; this tool reads %s", o.Path, safetext.Cut(layout.Version, 40), ocispec.ImageLayoutVersion)
	}
	raw, err = readDoc(ctx, o.s, "index.json", maxDocument)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Path, err)
	}
	idx, err := registry.ParseIndex(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: index.json: %w", o.Path, err)
	}
	desc, err := o.pick(idx)
	if err != nil && o.Digest != "" && errors.Is(err, registry.ErrNotFound) {
		// A digest the index does not list at its top (one platform's
		// manifest of an index): the blob itself, verified when read.
		if name, nerr := blobName(o.Digest); nerr == nil {
			if size, serr := o.s.stat(name); serr == nil {
				desc, err = ocispec.Descriptor{Digest: o.Digest, Size: size}, nil
			}
		}
	}
	if err != nil {
		return nil, err
	}
	im := &registry.Image{Name: o.name(o.Path)}
	abs, err := filepath.Abs(o.Path)
	if err != nil {
		return nil, err
	}
	im.FullName = o.name(abs)
	doc, mt, err := o.document(ctx, desc)
	if err != nil {
		return nil, err
	}
	switch mt {
	case ocispec.MediaTypeImageIndex, registry.MediaTypeDockerManifestList:
		sub, err := registry.ParseIndex(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: index %s: %w", o.Path, registry.ShortDigest(desc.Digest), err)
		}
		chosen, offered, ok := registry.SelectManifest(sub.Manifests, want)
		im.Offered = offered
		if !ok {
			return nil, &registry.PlatformError{Want: want, Offered: offered}
		}
		im.IndexDigest = desc.Digest
		desc = chosen
		if doc, mt, err = o.document(ctx, desc); err != nil {
			return nil, err
		}
		if mt != ocispec.MediaTypeImageManifest && mt != registry.MediaTypeDockerManifest {
			return nil, fmt.Errorf("%s: manifest %s: %w media type %q inside an index", o.Path, registry.ShortDigest(desc.Digest), registry.ErrUnsupported, safetext.Cut(mt, 80))
		}
	case ocispec.MediaTypeImageManifest, registry.MediaTypeDockerManifest:
	default:
		return nil, fmt.Errorf("%s: %w manifest media type %q (this is not a container image)", o.Path, registry.ErrUnsupported, safetext.Cut(mt, 80))
	}
	im.Digest, im.MediaType, im.RawManifest = desc.Digest, mt, doc
	if im.Manifest, err = registry.ParseManifest(doc); err != nil {
		return nil, fmt.Errorf("%s: manifest %s: %w", o.Path, registry.ShortDigest(desc.Digest), err)
	}
	if err := checkLayers(im.Manifest.Layers); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Path, err)
	}
	cname, err := blobName(im.Manifest.Config.Digest)
	if err != nil {
		return nil, err
	}
	if im.RawConfig, err = readVerified(ctx, o.s, cname, im.Manifest.Config, maxConfig); err != nil {
		return nil, fmt.Errorf("%s: config: %w", o.Path, err)
	}
	if im.Config, err = parseConfig(im.RawConfig, len(im.Manifest.Layers)); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Path, err)
	}
	if im.IndexDigest == "" {
		if err := checkPlatform(im, want); err != nil {
			return nil, err
		}
	} else {
		im.Platform = registry.Platform{OS: im.Config.OS, Architecture: im.Config.Architecture, Variant: im.Config.Variant}.Normalize()
	}
	return im, nil
}

// pick chooses the index.json entry the user named.
func (o *OCI) pick(idx ocispec.Index) (ocispec.Descriptor, error) {
	var names []string
	var found []ocispec.Descriptor
	for _, m := range idx.Manifests {
		ref := m.Annotations[ocispec.AnnotationRefName]
		if ref != "" {
			names = append(names, safetext.Cut(ref, 60))
		}
		switch {
		case o.Digest != "" && m.Digest == o.Digest,
			o.Digest == "" && o.Tag != "" && ref == o.Tag,
			o.Digest == "" && o.Tag == "":
			found = append(found, m)
		}
	}
	list := strings.Join(names, ", ")
	if len(names) > 10 {
		list = strings.Join(names[:10], ", ") + ", …"
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(idx.Manifests) == 0:
		return ocispec.Descriptor{}, fmt.Errorf("%s holds no image (index.json lists none)", o.Path)
	case len(found) == 0 && o.Digest != "":
		return ocispec.Descriptor{}, fmt.Errorf("%s has no image %s in its index.json: %w", o.Path, o.Digest, registry.ErrNotFound)
	case len(found) == 0:
		return ocispec.Descriptor{}, fmt.Errorf("%s has no image tagged %q (it has: %s): %w", o.Path, safetext.Cut(o.Tag, 60), orNone(list), registry.ErrNotFound)
	case o.Tag == "" && o.Digest == "":
		return ocispec.Descriptor{}, fmt.Errorf("%s holds %d images (%s): name one as %s:DIR:TAG or %s:DIR@DIGEST", o.Path, len(found), orNone(list), o.Kind, o.Kind)
	}
	return ocispec.Descriptor{}, fmt.Errorf("%s names %d images %q: refusing to guess which is meant", o.Path, len(found), safetext.Cut(o.Tag, 60))
}

func orNone(s string) string {
	if s == "" {
		return "none tagged"
	}
	return s
}

// document reads a manifest or index blob, verified, and its media type.
func (o *OCI) document(ctx context.Context, desc ocispec.Descriptor) ([]byte, string, error) {
	name, err := blobName(desc.Digest)
	if err != nil {
		return nil, "", err
	}
	raw, err := readVerified(ctx, o.s, name, desc, maxDocument)
	if err != nil {
		return nil, "", fmt.Errorf("%s: manifest %s: %w", o.Path, registry.ShortDigest(desc.Digest), err)
	}
	return raw, registry.DocumentMediaType(raw, desc.MediaType), nil
}

// Blob implements pull.Source: the blob, verified by its digest.
func (o *OCI) Blob(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	name, err := blobName(desc.Digest)
	if err != nil {
		return nil, err
	}
	rc, _, err := o.s.open(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Path, err)
	}
	return registry.NewVerifier(rc, desc), nil
}
