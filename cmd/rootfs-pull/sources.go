package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/rootfs-pull/rootfs-pull/archive"
	"github.com/rootfs-pull/rootfs-pull/export"
	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
	"github.com/rootfs-pull/rootfs-pull/lxc"
	"github.com/rootfs-pull/rootfs-pull/pull"
	"github.com/rootfs-pull/rootfs-pull/resolver"
	"github.com/rootfs-pull/rootfs-pull/source"
	"github.com/rootfs-pull/rootfs-pull/tarball"
)

// sourceFlags are the flags of sources other than registries.
func sourceFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "sha256", Usage: "a rootfs tarball's expected sha256 (file or URL): the rootfs is ready only if it matches"},
		lxcServerFlag(),
	}
}

func lxcServerFlag() cli.Flag {
	return &cli.StringFlag{Name: "lxc-server", EnvVars: []string{"ROOTFS_PULL_LXC_SERVER"}, Usage: "LXC image server or mirror for lxc: images, e.g. mirrors.tuna.tsinghua.edu.cn/lxc-images (default " + lxc.DefaultServer + ")"}
}

// checkSourceFlags refuses flags that mean nothing for spec's kind.
func checkSourceFlags(c *cli.Context, spec source.Spec) error {
	if c.String("sha256") != "" && spec.Kind != source.File && spec.Kind != source.URL {
		return usageError{"--sha256 is for a rootfs tarball (./FILE or https://URL); images are verified by their digests"}
	}
	if c.Bool("restore-defaults") && spec.Kind != source.File {
		return usageError{"--restore-defaults is for an export archive (./FILE made by rootfs-pull export)"}
	}
	if lxcServerOnCommandLine(c) && spec.Kind != source.LXC {
		return usageError{"--lxc-server is for lxc: images"}
	}
	if c.String("sha256") != "" {
		if _, err := tarball.ParseSHA256(c.String("sha256")); err != nil {
			return usageError{"--sha256: " + err.Error()}
		}
	}
	if spec.Kind == source.LXC {
		if _, err := lxc.NormalServer(c.String("lxc-server")); err != nil {
			return usageError{"--lxc-server: " + err.Error()}
		}
	}
	return nil
}

// lxcServerOnCommandLine: --lxc-server was given on the command line, not
// only set in ROOTFS_PULL_LXC_SERVER (which a profile sets for every
// command: it must not break pulls of other kinds). urfave/cli's IsSet
// counts the environment too.
func lxcServerOnCommandLine(c *cli.Context) bool {
	v := c.String("lxc-server")
	env, ok := os.LookupEnv("ROOTFS_PULL_LXC_SERVER")
	return v != "" && !(ok && v == env)
}

// lxcClient reads the LXC server of --lxc-server, resolving names as
// the registry client does.
func lxcClient(c *cli.Context, res *resolver.Resolver) *lxc.Client {
	server, _ := lxc.NormalServer(c.String("lxc-server"))
	lc := &lxc.Client{Server: server}
	if res != nil {
		lc.HTTP = tarball.DefaultHTTP(res)
	}
	return lc
}

// openSource opens what spec names (anything but a registry).
func openSource(ctx context.Context, c *cli.Context, spec source.Spec, res *resolver.Resolver) (pull.Source, error) {
	switch spec.Kind {
	case source.DockerArchive:
		return archive.OpenDockerArchive(ctx, spec.Path, spec.Ref)
	case source.OCI:
		return archive.OpenOCI(spec.Path, spec.Ref, spec.Digest)
	case source.OCIArchive:
		return archive.OpenOCIArchive(ctx, spec.Path, spec.Ref, spec.Digest)
	case source.LXC:
		return lxc.NewSource(lxcClient(c, res), spec.Path)
	case source.URL:
		var hc *http.Client
		if res != nil {
			hc = tarball.DefaultHTTP(res)
		}
		return tarball.Open(spec.Path, tarball.Options{SHA256: c.String("sha256"), HTTP: hc})
	case source.File:
		fi, err := os.Stat(spec.Path)
		if err != nil {
			return nil, err
		}
		if fi.IsDir() {
			if _, err := os.Stat(filepath.Join(spec.Path, "oci-layout")); err == nil {
				return nil, fmt.Errorf("%s is an OCI image layout, not a rootfs tarball: pull it as oci:%s", safetext.Cut(spec.Path, 120), safetext.Cut(spec.Path, 120))
			}
			return nil, fmt.Errorf("%s is a directory, not a rootfs tarball (an OCI layout is named oci:DIR)", safetext.Cut(spec.Path, 120))
		}
		// An export archive (its first entry is the export marker) is a
		// restore; any other file a rootfs tarball.
		if ok, err := export.IsArchive(spec.Path); err != nil {
			return nil, err
		} else if ok {
			return export.Open(spec.Path, c.String("sha256"))
		}
		return tarball.Open(spec.Path, tarball.Options{SHA256: c.String("sha256")})
	}
	return nil, fmt.Errorf("%s: not a source this command reads", spec.Kind)
}

// bareFileError: a bare name (an image name, by the rule) is also a
// regular file here; say how to name the file.
func bareFileError(arg string) error {
	fi, err := os.Stat(arg)
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	return usageError{fmt.Sprintf("%q is a file here, but a name without ./ or / is an image name: write ./%s to pull the rootfs tarball (docker-archive:%s or oci-archive:%s for an image archive)",
		safetext.Cut(arg, 80), safetext.Cut(arg, 80), safetext.Cut(arg, 80), safetext.Cut(arg, 80))}
}
