// Package lxc finds images on an LXC image server
// (https://images.linuxcontainers.org, or a mirror of it) through its
// simplestreams index, as incus and lxc's download template do:
// streams/v1/index.json names the products file (streams/v1/images.json),
// whose products ("debian:bookworm:arm64:default") each list builds by
// date, each with its files. A container's rootfs is the "root.tar.xz"
// item: a path under the server and its sha256 and size, which the pull
// verifies as it applies the tarball (package tarball).
//
// The server's answers are untrusted: documents are bounded, an item's
// path must be relative and clean, its sha256 64 hex digits and its size
// positive, and every name printed is escaped.
package lxc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
	"github.com/rootfs-pull/rootfs-pull/registry"
	"github.com/rootfs-pull/rootfs-pull/tarball"
)

// DefaultServer is the LXC project's image server.
const DefaultServer = "https://images.linuxcontainers.org"

// maxIndex bounds index.json, maxProducts the products file (the real
// one is a few MiB).
const (
	maxIndex    = 1 << 20
	maxProducts = 64 << 20
	// maxRootfsSize bounds the size an index may give a rootfs.
	maxRootfsSize = registry.MaxBlobSize
)

// Client reads one server's index.
type Client struct {
	Server string       // https://host[/prefix]; DefaultServer if empty
	HTTP   *http.Client // tarball.DefaultHTTP's rules when nil
}

// Image is one build of a product, ready to pull.
type Image struct {
	Distro, Release, Variant, Arch string
	Platform                       registry.Platform
	Version                        string // the build, e.g. 20240101_05:24
	URL                            string // of rootfs.tar.xz
	SHA256                         string
	Size                           int64
}

// Name is the image as lxc: names it.
func (im Image) Name() string { return "lxc:" + im.Distro + "/" + im.Release + "/" + im.Variant }

// Product is one distribution release, variant and architecture, with
// its newest build that has a rootfs.
type Product struct {
	Distro, Release, Variant, Arch string
	Platform                       registry.Platform
	Newest                         Image
}

// ErrNotFound: the server has no such image (for this architecture).
var ErrNotFound = errors.New("no such LXC image")

type index struct {
	Index map[string]struct {
		Datatype string `json:"datatype"`
		Path     string `json:"path"`
		Format   string `json:"format"`
	} `json:"index"`
}

var (
	sha256RE = regexp.MustCompile(`^[a-f0-9]{64}$`)
	wordRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)
	// buildRE is a build's name, as 20240102_05:24: it is printed.
	buildRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:+-]{0,63}$`)
)

// NormalServer is a server as users write it: a host and path ("mirrors.
// tuna.tsinghua.edu.cn/lxc-images") gets https://; plain http only on a
// loopback address.
func NormalServer(s string) (string, error) {
	if s == "" {
		return DefaultServer, nil
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("LXC server %q: want https://HOST[/PATH]", safetext.Cut(s, 120))
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return "", fmt.Errorf("LXC server %q: plain http is refused: use https", safetext.Cut(s, 120))
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

func (c *Client) server() string {
	s, err := NormalServer(c.Server)
	if err != nil {
		return DefaultServer
	}
	return s
}

// open starts reading a document of at most max bytes from the server;
// reading past max fails.
func (c *Client) open(ctx context.Context, p string, max int64) (io.ReadCloser, error) {
	u := c.server() + "/" + p
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "rootfs-pull")
	hc := c.HTTP
	if hc == nil {
		hc = tarball.DefaultHTTP(nil)
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("LXC server: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("LXC server: GET %s: %d %s", safetext.Cut(u, 120), resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return &maxBody{rc: resp.Body, left: max, what: safetext.Cut(u, 120), max: max}, nil
}

// maxBody fails a read past max bytes.
type maxBody struct {
	rc        io.ReadCloser
	left, max int64
	what      string
}

func (b *maxBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("LXC server: %s is larger than %d MiB: refused", b.what, b.max>>20)
		}
		if err == nil {
			err = io.ErrNoProgress
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *maxBody) Close() error { return b.rc.Close() }

// get reads a whole document of at most max bytes from the server.
func (c *Client) get(ctx context.Context, p string, max int64) ([]byte, error) {
	body, err := c.open(ctx, p, max)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, fmt.Errorf("LXC server: GET %s: %w", safetext.Cut(c.server()+"/"+p, 120), err)
	}
	return b, nil
}

// Products lists every product with a container rootfs, sorted.
func (c *Client) Products(ctx context.Context) ([]Product, error) {
	raw, err := c.get(ctx, "streams/v1/index.json", maxIndex)
	if err != nil {
		return nil, err
	}
	var idx index
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("LXC server: streams/v1/index.json: %w (is %s an LXC image server?)", err, safetext.Cut(c.server(), 120))
	}
	file := ""
	for _, name := range []string{"images"} {
		if e, ok := idx.Index[name]; ok && e.Datatype == "image-downloads" {
			file = e.Path
		}
	}
	if file == "" || checkPath(file) != nil || !strings.HasPrefix(file, "streams/") {
		return nil, fmt.Errorf("LXC server: streams/v1/index.json names no usable image-downloads products file")
	}
	body, err := c.open(ctx, file, maxProducts)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	ps, err := decodeProducts(body)
	if err != nil {
		return nil, fmt.Errorf("LXC server: %s: %w", safetext.Cut(file, 80), err)
	}
	var out []Product
	for _, p := range ps {
		if !wordRE.MatchString(p.OS) || !wordRE.MatchString(p.Release) || !wordRE.MatchString(p.Variant) || !wordRE.MatchString(p.Arch) {
			continue // not a name this tool can print or match
		}
		prod := Product{Distro: strings.ToLower(p.OS), Release: p.Release, Variant: p.Variant, Arch: p.Arch,
			Platform: registry.Platform{OS: "linux", Architecture: lxcArch(p.Arch)}.Normalize()}
		if p.Version != "" {
			prod.Newest = Image{Distro: prod.Distro, Release: p.Release, Variant: p.Variant, Arch: p.Arch, Platform: prod.Platform,
				Version: p.Version, URL: c.server() + "/" + p.Rootfs.Path, SHA256: p.Rootfs.SHA256, Size: p.Rootfs.Size}
		}
		if prod.Newest.URL != "" {
			out = append(out, prod)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Distro != b.Distro {
			return a.Distro < b.Distro
		}
		if a.Release != b.Release {
			return a.Release < b.Release
		}
		if a.Variant != b.Variant {
			return a.Variant < b.Variant
		}
		return a.Arch < b.Arch
	})
	return out, nil
}

// Find picks the newest build of distro/release/variant ("default" when
// empty) for want.
func (c *Client) Find(ctx context.Context, distro, release, variant string, want registry.Platform) (Image, error) {
	if variant == "" {
		variant = "default"
	}
	ps, err := c.Products(ctx)
	if err != nil {
		return Image{}, err
	}
	var offered []registry.Platform
	for _, p := range ps {
		if p.Distro != strings.ToLower(distro) || p.Release != release || p.Variant != variant {
			continue
		}
		offered = append(offered, p.Platform)
		if registry.Matches(want, p.Platform) {
			return p.Newest, nil
		}
	}
	name := "lxc:" + distro + "/" + release + "/" + variant
	if len(offered) > 0 {
		return Image{}, fmt.Errorf("%s: %w", safetext.Cut(name, 120), &registry.PlatformError{Want: want, Offered: offered})
	}
	return Image{}, fmt.Errorf("%s: %w on %s (rootfs-pull search lxc: lists them)", safetext.Cut(name, 120), ErrNotFound, safetext.Cut(c.server(), 120))
}

// lxcArch maps LXC's architecture names onto OCI's (Normalize does the
// rest: armhf, armel, i386 …).
func lxcArch(a string) string {
	switch a {
	case "ppc64el":
		return "ppc64le"
	}
	return a
}

// checkPath refuses a path that is absolute, not clean, or climbs out.
func checkPath(p string) error {
	if p == "" || p == ".." || strings.HasPrefix(p, "/") || path.Clean(p) != p || strings.HasPrefix(p, "../") || strings.Contains(p, "://") || strings.ContainsAny(p, "?#\\") {
		return fmt.Errorf("path %q refused", safetext.Cut(p, 120))
	}
	return nil
}

// isLoopback: host is a loopback address (a name is not trusted to be).
func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
