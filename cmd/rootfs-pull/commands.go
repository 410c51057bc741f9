package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/rootfs-pull/rootfs-pull/dockersave"
	"github.com/rootfs-pull/rootfs-pull/hub"
	"github.com/rootfs-pull/rootfs-pull/launcher"
	"github.com/rootfs-pull/rootfs-pull/pull"
	"github.com/rootfs-pull/rootfs-pull/registry"
)

// The seeds' other jobs: find an image, list its tags, look before
// downloading, save it for docker load.
func otherCommands(stdin io.Reader, stdout, stderr io.Writer) []*cli.Command {
	hubFlag := &cli.StringFlag{Name: "hub-url", EnvVars: []string{"ROOTFS_PULL_HUB_URL"}, Value: hub.DefaultURL, Usage: "Docker Hub's web API, or another Hub-compatible one"}
	cmds := []*cli.Command{
		{
			Name:      "search",
			Usage:     "search Docker Hub for images",
			ArgsUsage: "TERM",
			Flags: []cli.Flag{
				&cli.IntFlag{Name: "limit", Value: 25, Usage: "at most this many results"},
				&cli.BoolFlag{Name: "json", Usage: "print one JSON document"},
				hubFlag, dnsServerFlag(), debugFlag(), lxcServerFlag(),
				&cli.StringFlag{Name: "platform", Usage: "lxc: list the images for this os/arch[/variant] (default: this machine's)"},
			},
			Description: "Examples:\n   rootfs-pull search alpine\n   rootfs-pull search --limit 5 --json python\n   rootfs-pull search lxc:          # every distribution on the LXC image server\n   rootfs-pull search lxc:deb       # those whose name holds deb",
			Action:      func(c *cli.Context) error { return searchAction(c, stdout) },
		},
		{
			Name:      "tags",
			Usage:     "list an image's tags (on Docker Hub: those with an image for this machine, newest first)",
			ArgsUsage: "IMAGE",
			Flags: append(registryFlags(),
				&cli.BoolFlag{Name: "all-platforms", Usage: "Docker Hub: list every tag, whatever its platforms"},
				&cli.IntFlag{Name: "limit", Value: 100, Usage: "Docker Hub: at most this many tags"},
				hubFlag, lxcServerFlag(),
			),
			Description: "Examples:\n   rootfs-pull tags ubuntu\n   rootfs-pull tags --all-platforms debian\n   rootfs-pull tags 127.0.0.1:5000/team/app\n   rootfs-pull tags lxc:debian      # Debian's releases on the LXC image server",
			Action:      func(c *cli.Context) error { return tagsAction(c, stdin, stdout) },
		},
		{
			Name:        "inspect",
			Usage:       "show an image without downloading its layers",
			ArgsUsage:   "IMAGE",
			Flags:       registryFlags(),
			Description: "Examples:\n   rootfs-pull inspect ubuntu:24.04\n   rootfs-pull inspect --platform linux/arm64 --json alpine",
			Action:      func(c *cli.Context) error { return inspectAction(c, stdin, stdout) },
		},
		{
			Name:        "save",
			Usage:       "save an image as a docker load archive (.tar, or .tar.gz)",
			ArgsUsage:   "IMAGE FILE",
			Flags:       registryFlags(),
			Description: "Examples:\n   rootfs-pull save alpine alpine.tar\n   rootfs-pull save --platform linux/arm64 debian:bookworm debian-arm64.tar.gz",
			Action:      func(c *cli.Context) error { return saveAction(c, stdin, stdout, stderr) },
		},
	}
	for _, c := range cmds {
		c.OnUsageError = onUsageError
	}
	return cmds
}

// failed turns an error into the one line a user reads and exit status 1
// (130 when interrupted).
func failed(c *cli.Context, err error, image string) error {
	msg := pull.Explain(err, pull.Options{Image: image})
	if c.Context.Err() != nil {
		return cli.Exit("interrupted", exitInterrupted)
	}
	if c.Bool("json") {
		writeJSON(c.App.Writer, map[string]any{"error": msg})
	}
	return cli.Exit(msg, exitFailure)
}

// hubClient talks to the Hub API, resolving names as registryClient does.
func hubClient(c *cli.Context) (*hub.Client, error) {
	res, err := hostResolver(c)
	if err != nil {
		return nil, err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = res.DialContext
	return &hub.Client{BaseURL: c.String("hub-url"), HTTP: &http.Client{Timeout: time.Minute, Transport: t}}, nil
}

func searchAction(c *cli.Context, stdout io.Writer) error {
	if c.NArg() != 1 {
		return usageError{fmt.Sprintf("want one search TERM, got %d argument(s)", c.NArg())}
	}
	if word, ok := strings.CutPrefix(c.Args().First(), "lxc:"); ok {
		return lxcList(c, stdout, word, false)
	}
	limit := c.Int("limit")
	if limit < 1 || limit > 1000 {
		return usageError{fmt.Sprintf("--limit %d: want 1 to 1000", limit)}
	}
	hc, err := hubClient(c)
	if err != nil {
		return err
	}
	repos, err := hc.Search(c.Context, c.Args().First(), limit)
	if err != nil {
		return failed(c, fmt.Errorf("%w: check your network, or point --hub-url at a reachable Hub API", err), c.Args().First())
	}
	if c.Bool("json") {
		if repos == nil {
			repos = []hub.Repository{}
		}
		writeJSON(stdout, repos)
		return nil
	}
	if len(repos) == 0 {
		fmt.Fprintf(stdout, "No image matches %q.\n", c.Args().First())
		return nil
	}
	width := termWidth()
	nameW := 0
	for _, r := range repos {
		nameW = max(nameW, utf8.RuneCountInString(r.Name))
	}
	nameW = min(nameW, width/2)
	for _, r := range repos {
		badge := ""
		if r.Official {
			badge = " [official]"
		}
		head := fmt.Sprintf("%-*s %6s★ %7s↓%s", nameW, r.Name, humanCount(int64(r.Stars)), humanCount(r.Pulls), badge)
		fmt.Fprintln(stdout, head)
		if d := strings.TrimSpace(r.Description); d != "" {
			fmt.Fprintln(stdout, "  "+truncate(d, width-2))
		}
	}
	return nil
}

func tagsAction(c *cli.Context, stdin io.Reader, stdout io.Writer) error {
	if distro, ok := strings.CutPrefix(c.Args().First(), "lxc:"); ok && c.NArg() == 1 {
		if distro == "" || strings.Contains(distro, "/") {
			return usageError{"tags lxc:DISTRO lists a distribution's releases, e.g. tags lxc:debian (search lxc: lists the distributions)"}
		}
		return lxcList(c, stdout, distro, true)
	}
	ref, want, err := imageArgs(c, 1, "IMAGE")
	if err != nil {
		return err
	}
	image := c.Args().First()
	if ref.Domain == registry.DockerHubDomain {
		return hubTags(c, ref, want, stdout)
	}
	client, _, err := registryClient(c, stdin, nil)
	if err != nil {
		return err
	}
	tags, err := client.Tags(c.Context, ref)
	if err != nil {
		return failed(c, err, image)
	}
	if c.Bool("json") {
		if tags == nil {
			tags = []string{}
		}
		writeJSON(stdout, map[string]any{"image": ref.Domain + "/" + ref.Path, "tags": tags})
		return nil
	}
	for _, t := range tags {
		fmt.Fprintln(stdout, t)
	}
	return nil
}

// hubTags lists Docker Hub tags with their per-platform images: by default
// only the tags with an image this machine (or --platform) can run.
func hubTags(c *cli.Context, ref registry.Reference, want registry.Platform, stdout io.Writer) error {
	hc, err := hubClient(c)
	if err != nil {
		return err
	}
	tags, err := hc.Tags(c.Context, ref.Path, c.Int("limit"))
	if err != nil {
		return failed(c, fmt.Errorf("%w: check the name, your network, or --hub-url", err), ref.Familiar())
	}
	type row struct {
		Tag       string    `json:"tag"`
		Updated   time.Time `json:"last_updated"`
		Size      int64     `json:"size"` // of the image for the platform, or of the tag
		Platforms []string  `json:"platforms"`
	}
	var rows []row
	for _, t := range tags {
		r := row{Tag: t.Name, Updated: t.LastUpdated, Size: t.FullSize}
		match := false
		for _, im := range t.Images {
			p := registry.Platform{OS: im.OS, Architecture: im.Architecture, Variant: im.Variant}.Normalize()
			if p.OS == "" || p.OS == "unknown" {
				continue
			}
			r.Platforms = append(r.Platforms, p.String())
			if registry.Matches(want, p) {
				if !match {
					r.Size = im.Size
				}
				match = true
			}
		}
		if match || c.Bool("all-platforms") {
			rows = append(rows, r)
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Updated.After(rows[j].Updated) })
	if c.Bool("json") {
		if rows == nil {
			rows = []row{}
		}
		writeJSON(stdout, map[string]any{"image": ref.Familiar(), "platform": want.String(), "tags": rows})
		return nil
	}
	if len(rows) == 0 {
		fmt.Fprintf(stdout, "No tag of %s has an image for %s (see --all-platforms).\n", ref.Familiar(), want)
		return nil
	}
	tagW := 0
	for _, r := range rows {
		tagW = max(tagW, len(r.Tag))
	}
	tagW = min(tagW, termWidth()/2)
	for _, r := range rows {
		line := fmt.Sprintf("%-*s %9s  %s", tagW, r.Tag, humanBytes(r.Size), r.Updated.Format("2006-01-02"))
		if c.Bool("all-platforms") {
			line += "  " + strings.Join(r.Platforms, ",")
		}
		fmt.Fprintln(stdout, line)
	}
	return nil
}

func inspectAction(c *cli.Context, stdin io.Reader, stdout io.Writer) error {
	ref, want, err := imageArgs(c, 1, "IMAGE")
	if err != nil {
		return err
	}
	image := c.Args().First()
	client, res, err := registryClient(c, stdin, nil)
	if err != nil {
		return err
	}
	im, err := client.Resolve(c.Context, ref, want)
	if err != nil {
		return failed(c, err, image)
	}
	cfg := im.Config.Config
	lc := launcher.Config{Entrypoint: cfg.Entrypoint, Cmd: cfg.Cmd}
	dir := "./" + pathBase(ref.Path)
	type layer struct {
		Digest    string `json:"digest"`
		MediaType string `json:"media_type"`
		Size      int64  `json:"size"`
	}
	doc := struct {
		Image       string            `json:"image"`
		Reference   string            `json:"reference"`
		Digest      string            `json:"digest"`
		IndexDigest string            `json:"index_digest,omitempty"`
		MediaType   string            `json:"media_type"`
		Platform    string            `json:"platform"`
		Platforms   []string          `json:"platforms,omitempty"`
		Layers      []layer           `json:"layers"`
		Size        int64             `json:"size"`
		Created     *time.Time        `json:"created,omitempty"`
		Entrypoint  []string          `json:"entrypoint"`
		Cmd         []string          `json:"cmd"`
		Env         []string          `json:"env"`
		WorkingDir  string            `json:"working_dir"`
		User        string            `json:"user"`
		Labels      map[string]string `json:"labels,omitempty"`
		PullCommand []string          `json:"pull_command"`
		DNS         []string          `json:"dns,omitempty"`
		Launcher    string            `json:"launcher"`
		Default     []string          `json:"default_command"`
	}{
		Image: im.Ref.Familiar(), Reference: im.Ref.String(), Digest: im.Digest.String(), IndexDigest: im.IndexDigest.String(),
		MediaType: im.MediaType, Platform: im.Platform.String(), Size: im.Size(), Created: im.Config.Created,
		Entrypoint: cfg.Entrypoint, Cmd: cfg.Cmd, Env: cfg.Env, WorkingDir: cfg.WorkingDir, User: cfg.User, Labels: cfg.Labels,
		PullCommand: []string{"rootfs-pull", image, dir}, Launcher: displayPath(launcher.DefaultName(dir)), Default: lc.DefaultCommand(),
	}
	for _, p := range im.Offered {
		doc.Platforms = append(doc.Platforms, p.String())
	}
	for _, l := range im.Manifest.Layers {
		doc.Layers = append(doc.Layers, layer{Digest: l.Digest.String(), MediaType: l.MediaType, Size: l.Size})
	}
	if c.Bool("json") {
		doc.DNS = res.Answered()
		writeJSON(stdout, doc)
		return nil
	}
	w := stdout
	fmt.Fprintf(w, "Image:      %s\n", display(doc.Reference))
	fmt.Fprintf(w, "Digest:     %s\n", doc.Digest)
	if doc.IndexDigest != "" {
		fmt.Fprintf(w, "Index:      %s\n", doc.IndexDigest)
		fmt.Fprintf(w, "Platforms:  %s\n", display(strings.Join(doc.Platforms, ", ")))
	}
	fmt.Fprintf(w, "Platform:   %s\n", display(doc.Platform))
	if doc.Created != nil {
		fmt.Fprintf(w, "Created:    %s\n", doc.Created.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(w, "Size:       %s in %d layer%s\n", humanBytes(doc.Size), len(doc.Layers), plural(len(doc.Layers)))
	for i, l := range doc.Layers {
		fmt.Fprintf(w, "  %2d  %s  %9s  %s\n", i+1, shortDigest(l.Digest), humanBytes(l.Size), display(shortMediaType(l.MediaType)))
	}
	fmt.Fprintf(w, "Entrypoint: %s\n", quoteOrNone(doc.Entrypoint))
	fmt.Fprintf(w, "Cmd:        %s\n", quoteOrNone(doc.Cmd))
	fmt.Fprintf(w, "WorkingDir: %s\n", display(orNone(doc.WorkingDir)))
	fmt.Fprintf(w, "User:       %s\n", display(orNone(doc.User)))
	for i, e := range doc.Env {
		label := "Env:"
		if i > 0 {
			label = ""
		}
		fmt.Fprintf(w, "%-11s %s\n", label, display(e))
	}
	keys := make([]string, 0, len(doc.Labels))
	for k := range doc.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		label := "Labels:"
		if i > 0 {
			label = ""
		}
		fmt.Fprintf(w, "%-11s %s=%s\n", label, display(k), display(doc.Labels[k]))
	}
	fmt.Fprintf(w, "Pull it:    %s\n", displayArgs(doc.PullCommand))
	fmt.Fprintf(w, "Start it:   %s  (after the pull; it runs %s)\n", displayArgs([]string{doc.Launcher}), displayArgs(doc.Default))
	return nil
}

func saveAction(c *cli.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	ref, want, err := imageArgs(c, 2, "IMAGE and FILE")
	if err != nil {
		return err
	}
	image, file := c.Args().Get(0), c.Args().Get(1)
	if fi, err := os.Stat(file); err == nil && fi.IsDir() {
		return usageError{fmt.Sprintf("%s is a directory: give a file name such as %s.tar", file, pathBase(ref.Path))}
	}
	client, _, err := registryClient(c, stdin, nil)
	if err != nil {
		return err
	}
	start := time.Now()
	im, err := client.Resolve(c.Context, ref, want)
	if err != nil {
		return failed(c, err, image)
	}
	tag := ref.Tag
	if tag == "" {
		tag = "digest-" + registry.ShortDigest(im.Digest)
	}
	name := ref.Familiar()
	if i := strings.LastIndexAny(name, ":@"); i > strings.LastIndex(name, "/") {
		name = name[:i]
	}
	if err := dockersave.Save(c.Context, client, im, name+":"+tag, file); err != nil {
		return failed(c, err, image)
	}
	fi, _ := os.Stat(file)
	var size int64
	if fi != nil {
		size = fi.Size()
	}
	if c.Bool("json") {
		writeJSON(stdout, map[string]any{"image": im.Ref.Familiar(), "digest": im.Digest.String(), "platform": im.Platform.String(),
			"file": file, "size": size, "repo_tag": name + ":" + tag, "seconds": time.Since(start).Seconds()})
		return nil
	}
	fmt.Fprintf(stdout, "Saved %s (%s, %s) to %s: %s. Load it with: docker load -i %s\n",
		im.Ref.Familiar(), im.Platform, shortDigest(im.Digest.String()), file, humanBytes(size), launcher.Quote(file))
	return nil
}

// imageArgs reads the arguments of a command on IMAGE (and nargs-1 more):
// the parsed name, and --platform, this machine's by default.
func imageArgs(c *cli.Context, nargs int, want string) (registry.Reference, registry.Platform, error) {
	if c.NArg() != nargs {
		return registry.Reference{}, registry.Platform{}, usageError{fmt.Sprintf("want %s, got %d argument(s)", want, c.NArg())}
	}
	ref, err := registry.ParseReference(c.Args().First())
	if err != nil {
		return ref, registry.Platform{}, usageError{err.Error()}
	}
	plat, err := platformFlag(c)
	if err != nil {
		return ref, plat, err
	}
	if plat.OS == "" {
		plat = registry.HostPlatform()
	}
	return ref, plat, nil
}

func pathBase(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}

func shortMediaType(mt string) string {
	switch {
	case strings.HasSuffix(mt, "gzip"):
		return "gzip"
	case strings.HasSuffix(mt, "zstd"):
		return "zstd"
	case strings.HasSuffix(mt, "tar"):
		return "tar"
	}
	return mt
}

func quoteOrNone(args []string) string {
	if len(args) == 0 {
		return "(none)"
	}
	return displayArgs(args)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// termWidth is the terminal's width (COLUMNS, else 80): search and tags
// fit a narrow phone screen.
func termWidth() int {
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n >= 20 {
		return n
	}
	return 80
}

func truncate(s string, n int) string {
	if n < 4 || utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func humanCount(n int64) string {
	switch {
	case n >= 1_000_000_000:
		return fmt.Sprintf("%.1fB", float64(n)/1e9)
	case n >= 1_000_000:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1_000:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return strconv.FormatInt(n, 10)
}
