package archive

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
	"github.com/rootfs-pull/rootfs-pull/registry"
)

// DockerArchive is a `docker save` archive (docker-archive:FILE.tar,
// plain or gzipped): manifest.json lists its images, each a config and
// its layers' paths in the archive. Ref ("alpine:3.20", as in its
// RepoTags) picks one when it holds several.
type DockerArchive struct {
	Path string
	Ref  string
	s    *tarStore
}

// pathAnnotation carries, in a layer descriptor Resolve made, the
// layer's path in the archive (checked then), for Blob.
const pathAnnotation = "org.rootfs-pull.archive.path"

// OpenDockerArchive opens file; ref (or "") names the image in it.
func OpenDockerArchive(ctx context.Context, file, ref string) (*DockerArchive, error) {
	s, err := openTar(ctx, file)
	if err != nil {
		return nil, err
	}
	return &DockerArchive{Path: file, Ref: ref, s: s}, nil
}

// dockerManifest is one image of manifest.json.
type dockerManifest struct {
	Config       string
	RepoTags     []string
	Layers       []string
	LayerSources map[digest.Digest]ocispec.Descriptor `json:",omitempty"`
}

// Docker's layer media type; the bytes decide whether it is compressed.
const dockerLayer = "application/vnd.docker.image.rootfs.diff.tar"

// blobPath is a path named by its digest: blobs/ALG/HEX (docker save
// since Docker 25, an OCI layout inside) or HEX.json (older configs).
var (
	blobPathRE   = regexp.MustCompile(`^blobs/(sha256|sha512)/([a-f0-9]{64}|[a-f0-9]{128})$`)
	configPathRE = regexp.MustCompile(`^([a-f0-9]{64})\.json$`)
)

func digestOfPath(p string) digest.Digest {
	if m := blobPathRE.FindStringSubmatch(p); m != nil {
		d := digest.NewDigestFromEncoded(digest.Algorithm(m[1]), m[2])
		if d.Validate() == nil {
			return d
		}
	}
	if m := configPathRE.FindStringSubmatch(p); m != nil {
		return digest.NewDigestFromEncoded(digest.SHA256, m[1])
	}
	return ""
}

// normalTag is a RepoTag or reference as Docker normalises it, "" if it
// is not one.
func normalTag(s string) string {
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return ""
	}
	return reference.TagNameOnly(n).String()
}

// Resolve implements pull.Source.
func (a *DockerArchive) Resolve(ctx context.Context, want registry.Platform) (*registry.Image, error) {
	raw, err := readDoc(ctx, a.s, "manifest.json", maxDocument)
	if err != nil {
		return nil, fmt.Errorf("%s is not a docker save archive: %w", a.Path, err)
	}
	var ms []dockerManifest
	if err := json.Unmarshal(raw, &ms); err != nil {
		return nil, fmt.Errorf("%s: manifest.json: %w: %w", a.Path, err, registry.ErrMalformed)
	}
	if len(ms) > registry.MaxIndexEntries {
		return nil, fmt.Errorf("%s: manifest.json lists %d images, more than %d: %w", a.Path, len(ms), registry.MaxIndexEntries, registry.ErrMalformed)
	}
	m, tag, err := a.pick(ms)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(a.Path)
	if err != nil {
		return nil, err
	}
	im := &registry.Image{Name: "docker-archive:" + a.Path, FullName: "docker-archive:" + abs}
	if tag != "" {
		im.Name += ":" + tag
		im.FullName += ":" + normalTag(tag)
	}
	if len(m.Layers) > registry.MaxLayers {
		return nil, fmt.Errorf("%s: %d layers, more than the %d this tool accepts: %w", a.Path, len(m.Layers), registry.MaxLayers, registry.ErrMalformed)
	}
	cd := digestOfPath(m.Config)
	if cd == "" {
		return nil, fmt.Errorf("%s: config %q is not named by its digest, so it cannot be verified: %w", a.Path, safetext.Cut(m.Config, 80), registry.ErrMalformed)
	}
	csize, err := a.s.stat(m.Config)
	if err != nil {
		return nil, fmt.Errorf("%s: config: %w", a.Path, err)
	}
	im.Manifest.Config = ocispec.Descriptor{MediaType: registry.MediaTypeDockerConfig, Digest: cd, Size: csize}
	if im.RawConfig, err = readVerified(ctx, a.s, m.Config, im.Manifest.Config, maxConfig); err != nil {
		return nil, fmt.Errorf("%s: config: %w", a.Path, err)
	}
	if im.Config, err = parseConfig(im.RawConfig, len(m.Layers)); err != nil {
		return nil, fmt.Errorf("%s: %w", a.Path, err)
	}
	for i, p := range m.Layers {
		size, err := a.s.stat(p)
		if err != nil {
			return nil, fmt.Errorf("%s: layer %d: %w", a.Path, i+1, err)
		}
		// A layer named by its digest is verified by it too; any layer
		// by its diff_id.
		desc := ocispec.Descriptor{MediaType: dockerLayer, Digest: digestOfPath(p), Size: size, Annotations: map[string]string{pathAnnotation: p}}
		if src, ok := m.LayerSources[desc.Digest]; ok && desc.Digest != "" && src.MediaType != "" {
			desc.MediaType = src.MediaType
		}
		im.Manifest.Layers = append(im.Manifest.Layers, desc)
	}
	if err := checkLayers(im.Manifest.Layers); err != nil {
		return nil, fmt.Errorf("%s: %w", a.Path, err)
	}
	// Docker's image ID, the config's digest, is the only digest that
	// covers the whole image.
	im.Digest = cd
	if err := checkPlatform(im, want); err != nil {
		return nil, err
	}
	return im, nil
}

// pick chooses the image of manifest.json the user named, and its tag.
func (a *DockerArchive) pick(ms []dockerManifest) (dockerManifest, string, error) {
	var all []string
	for _, m := range ms {
		for _, t := range m.RepoTags {
			all = append(all, safetext.Cut(t, 60))
		}
	}
	list := strings.Join(all, ", ")
	if len(all) > 10 {
		list = strings.Join(all[:10], ", ") + ", …"
	}
	if a.Ref == "" {
		switch len(ms) {
		case 0:
			return dockerManifest{}, "", fmt.Errorf("%s holds no image (manifest.json lists none)", a.Path)
		case 1:
			tag := ""
			if len(ms[0].RepoTags) == 1 && normalTag(ms[0].RepoTags[0]) != "" {
				tag = ms[0].RepoTags[0] // names the image only if it is an image name
			}
			return ms[0], tag, nil
		}
		return dockerManifest{}, "", fmt.Errorf("%s holds %d images (%s): name one as docker-archive:%s:REPO:TAG", a.Path, len(ms), orNone(list), a.Path)
	}
	want := normalTag(a.Ref)
	if want == "" {
		return dockerManifest{}, "", fmt.Errorf("docker-archive:%s:%s: %q is not an image name", a.Path, safetext.Cut(a.Ref, 60), safetext.Cut(a.Ref, 60))
	}
	var found []dockerManifest
	for _, m := range ms {
		for _, t := range m.RepoTags {
			if normalTag(t) == want {
				found = append(found, m)
				break
			}
		}
	}
	switch len(found) {
	case 1:
		return found[0], a.Ref, nil
	case 0:
		return dockerManifest{}, "", fmt.Errorf("%s has no image %s (it has: %s): %w", a.Path, safetext.Cut(a.Ref, 60), orNone(list), registry.ErrNotFound)
	}
	return dockerManifest{}, "", fmt.Errorf("%s lists %s %d times: refusing to guess which is meant", a.Path, safetext.Cut(a.Ref, 60), len(found))
}

// Blob implements pull.Source: a layer (verified by its digest when its
// name carries one; the pull checks its diff_id).
func (a *DockerArchive) Blob(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	p, ok := desc.Annotations[pathAnnotation]
	if !ok {
		return nil, fmt.Errorf("%s: layer %s: %w", a.Path, registry.ShortDigest(desc.Digest), ErrNotInArchive)
	}
	rc, _, err := a.s.open(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.Path, err)
	}
	if desc.Digest == "" {
		return rc, nil
	}
	return registry.NewVerifier(rc, desc), nil
}
