package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/rootfs-pull/rootfs-pull/lxc"
	"github.com/rootfs-pull/rootfs-pull/registry"
)

// lxcRow is one distribution release of an LXC server, as search and
// tags list them: its variants for the platform and newest build.
type lxcRow struct {
	Name     string   `json:"name"` // lxc:DISTRO/RELEASE
	Distro   string   `json:"distro"`
	Release  string   `json:"release"`
	Variants []string `json:"variants"`
	Build    string   `json:"build"` // the newest, e.g. 20240102_05:24
}

// lxcRows lists the releases with an image for want whose distribution
// matches distro (all when empty: search), or is distro (tags).
func lxcRows(c *cli.Context, want registry.Platform, distro string, exact bool) ([]lxcRow, error) {
	res, err := hostResolver(c)
	if err != nil {
		return nil, err
	}
	ps, err := lxcClient(c, res).Products(c.Context)
	if err != nil {
		return nil, err
	}
	rows := map[string]*lxcRow{}
	var order []string
	distro = strings.ToLower(distro)
	for _, p := range ps {
		if !registry.Matches(want, p.Platform) {
			continue
		}
		if exact && p.Distro != distro || !exact && !strings.Contains(p.Distro, distro) {
			continue
		}
		key := p.Distro + "/" + p.Release
		r := rows[key]
		if r == nil {
			r = &lxcRow{Name: "lxc:" + key, Distro: p.Distro, Release: p.Release}
			rows[key] = r
			order = append(order, key)
		}
		r.Variants = append(r.Variants, p.Variant)
		if p.Newest.Version > r.Build {
			r.Build = p.Newest.Version
		}
	}
	out := make([]lxcRow, 0, len(order))
	for _, k := range order {
		sort.Strings(rows[k].Variants)
		out = append(out, *rows[k])
	}
	return out, nil
}

// lxcList prints rows for search lxc:[WORD] and tags lxc:DISTRO.
func lxcList(c *cli.Context, stdout io.Writer, what string, exact bool) error {
	want, err := platformFlag(c)
	if err != nil {
		return err
	}
	if want.OS == "" {
		want = registry.HostPlatform()
	}
	if err := checkLXCServer(c); err != nil {
		return err
	}
	rows, err := lxcRows(c, want, what, exact)
	if err != nil {
		return failed(c, err, "lxc:"+what)
	}
	if c.Bool("json") {
		writeJSON(stdout, map[string]any{"server": lxcClient(c, nil).Server, "platform": want.String(), "images": rows})
		return nil
	}
	if len(rows) == 0 {
		fmt.Fprintf(stdout, "No LXC image matches %q for %s (see --platform, --lxc-server).\n", what, want)
		return nil
	}
	w := 0
	for _, r := range rows {
		w = max(w, len(r.Name))
	}
	for _, r := range rows {
		fmt.Fprintf(stdout, "%-*s  %s  %s\n", w, display(r.Name), display(r.Build), display(strings.Join(r.Variants, ",")))
	}
	return nil
}

func checkLXCServer(c *cli.Context) error {
	if _, err := lxc.NormalServer(c.String("lxc-server")); err != nil {
		return usageError{"--lxc-server: " + err.Error()}
	}
	return nil
}
