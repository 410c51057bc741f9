package lxc

import (
	"context"
	"fmt"
	"io"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/registry"
	"github.com/rootfs-pull/rootfs-pull/tarball"
)

// Source is a pull.Source for lxc:DISTRO/RELEASE[/VARIANT]: the newest
// build for the platform asked for, its rootfs.tar.xz verified against
// the sha256 and size the index gives.
type Source struct {
	c                        *Client
	distro, release, variant string
	t                        *tarball.Source
	Image                    Image // the build chosen, once resolved
}

// NewSource is the source for spec ("debian/bookworm[/default]") on c's server.
func NewSource(c *Client, spec string) (*Source, error) {
	parts := strings.Split(spec, "/")
	if len(parts) < 2 || len(parts) > 3 {
		return nil, fmt.Errorf("lxc:%s: want lxc:DISTRO/RELEASE[/VARIANT]", spec)
	}
	s := &Source{c: c, distro: parts[0], release: parts[1], variant: "default"}
	if len(parts) == 3 {
		s.variant = parts[2]
	}
	return s, nil
}

// Resolve implements pull.Source.
func (s *Source) Resolve(ctx context.Context, want registry.Platform) (*registry.Image, error) {
	im, err := s.c.Find(ctx, s.distro, s.release, s.variant, want)
	if err != nil {
		return nil, err
	}
	s.Image = im
	cfg := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: im.Platform.Architecture, Variant: im.Platform.Variant}}
	cfg.Config.Cmd = tarball.LoginShell
	t, err := tarball.Open(im.URL, tarball.Options{
		SHA256: im.SHA256, Size: im.Size, HTTP: s.c.HTTP, Config: &cfg,
		Name:     im.Name() + " (" + im.Version + ")",
		FullName: im.Name() + "/" + im.Arch,
	})
	if err != nil {
		return nil, err
	}
	s.t = t
	return t.Resolve(ctx, want)
}

// Blob implements pull.Source.
func (s *Source) Blob(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	return s.t.Blob(ctx, desc)
}

// RewriteTar implements pull.TarRewriter.
func (s *Source) RewriteTar(i int, r io.Reader) io.ReadCloser { return s.t.RewriteTar(i, r) }
