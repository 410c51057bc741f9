// Command rootfs-pull turns a Docker/OCI image into a ready-to-run root
// filesystem, without Docker:
//
//	rootfs-pull ubuntu ./ubuntu
//
// It is a thin layer over the pull, registry and rootfs packages: flags,
// wiring, output.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf16"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/urfave/cli/v2"

	"github.com/rootfs-pull/rootfs-pull/cache"
	"github.com/rootfs-pull/rootfs-pull/export"
	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
	"github.com/rootfs-pull/rootfs-pull/launcher"
	"github.com/rootfs-pull/rootfs-pull/pull"
	"github.com/rootfs-pull/rootfs-pull/registry"
	"github.com/rootfs-pull/rootfs-pull/resolver"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
	"github.com/rootfs-pull/rootfs-pull/source"
)

// version and commit are stamped by the build (-ldflags -X main.version=…
// -X main.commit=…; see scripts/build.sh).
var (
	version = "dev"
	commit  = "unknown"
)

// Exit statuses.
const (
	exitFailure     = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// interruptGrace is how long a command may take to wind down after Ctrl-C
// or SIGTERM before it is ended anyway: whatever it is blocked on (a read
// from a terminal or pipe, a hung filesystem), the user gets the prompt
// back within two seconds. Everything the tool writes is atomic or
// recorded as unfinished first, so ending there loses nothing.
const interruptGrace = 1500 * time.Millisecond

// memoryLimit is the Go runtime's soft memory limit unless GOMEMLIMIT
// says otherwise: the pipeline's buffers are fixed (chunks in flight, the
// decoder's read-ahead), but each layer leaves garbage of its own, and on
// a many-layer image the collector would otherwise let it pile up to twice
// the live heap. Near the limit it collects sooner; a phone keeps the
// memory.
const memoryLimit = 52 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	endTrace := profile("ROOTFS_PULL_TRACE", trace.Start, trace.Stop)
	endCPU := profile("ROOTFS_PULL_CPUPROFILE", pprof.StartCPUProfile, pprof.StopCPUProfile)
	done := make(chan struct{})
	go watchInterrupt(ctx, stop, done, slices.Contains(os.Args, "--json"))
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	close(done)
	endCPU() // before os.Exit, which runs no deferred calls
	endTrace()
	os.Exit(code)
}

// watchInterrupt ends the process with status 130 when a signal cancelled
// ctx and the command has not returned (done) within interruptGrace. A
// second Ctrl-C meanwhile ends it at once (the default action, restored by
// stop).
func watchInterrupt(ctx context.Context, stop func(), done <-chan struct{}, asJSON bool) {
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	stop()
	select {
	case <-done:
	case <-time.After(interruptGrace):
		const msg = "interrupted: stopped while waiting; a pull is left unfinished (not ready): run the same command again to resume"
		fmt.Fprintln(os.Stderr, "rootfs-pull: "+msg)
		if asJSON {
			writeJSON(os.Stdout, map[string]any{"error": msg})
		}
		os.Exit(exitInterrupted)
	}
}

// profile starts a trace or CPU profile into the file named by env, if
// set (for make bench and profiling by hand); the func it returns ends it.
func profile(env string, start func(io.Writer) error, stop func()) func() {
	p := os.Getenv(env)
	if p == "" {
		return func() {}
	}
	f, err := os.Create(p)
	if err != nil || start(f) != nil {
		return func() {}
	}
	return func() { stop(); f.Close() }
}

// usageError marks a mistake in how the command was called (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	defer func() {
		// A bug must still end as one line, not a stack trace.
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "rootfs-pull: internal error: %v (please report it, with the command you ran)\n", r)
			code = exitFailure
		}
	}()
	app := newApp(stdin, stdout, stderr)
	err := app.RunContext(ctx, flagsFirst(app, args))
	if err == nil {
		return 0
	}
	var ue usageError
	var ec cli.ExitCoder
	switch {
	case errors.As(err, &ec):
		if msg := strings.TrimSpace(ec.Error()); msg != "" {
			fmt.Fprintln(stderr, "rootfs-pull: "+firstLine(msg))
		}
		return ec.ExitCode()
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "rootfs-pull: %s (see rootfs-pull --help)\n", firstLine(ue.msg))
		return exitUsage
	default:
		// urfave/cli's own flag errors.
		fmt.Fprintf(stderr, "rootfs-pull: %s (see rootfs-pull --help)\n", firstLine(err.Error()))
		return exitUsage
	}
}

// valueFlags lists the flag names (with dashes) that take a value.
func valueFlags(flags []cli.Flag) map[string]bool {
	m := map[string]bool{}
	for _, f := range flags {
		if _, isBool := f.(*cli.BoolFlag); isBool {
			continue
		}
		for _, n := range f.Names() {
			m["-"+n], m["--"+n] = true, true
		}
	}
	return m
}

// flagsFirst lets flags follow the arguments, as people type them
// ("rootfs-pull ubuntu ./ubuntu --json"): urfave/cli stops reading flags
// at the first argument, so flags are moved before the arguments (after
// the subcommand's name, if any).
func flagsFirst(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	rest := args[1:]
	flagSet, cmds := app.Flags, app.Commands
	for len(rest) > 0 {
		cmd := findCommand(cmds, rest[0])
		if cmd == nil {
			break
		}
		out, rest, flagSet, cmds = append(out, rest[0]), rest[1:], cmd.Flags, cmd.Subcommands
	}
	takesValue := valueFlags(flagSet)
	var flags, positional []string
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			positional = append(positional, rest[i+1:]...)
			i = len(rest)
		case len(a) > 1 && a[0] == '-':
			flags = append(flags, a)
			if takesValue[a] && i+1 < len(rest) {
				flags = append(flags, rest[i+1])
				i++
			}
		default:
			positional = append(positional, a)
		}
	}
	out = append(out, flags...)
	if len(positional) > 0 {
		out = append(append(out, "--"), positional...)
	}
	return out
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// firstLine is the first line of an error message, with any control
// character that untrusted text (a registry's answer, an image's name or
// config) slipped into it escaped, so it cannot drive the terminal.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return safetext.Cut(s, 0)
}

// registryFlags are the flags of every command that talks to a registry.
func registryFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "platform", Usage: "os/arch[/variant] to pick from a multi-platform image (default: this machine's)"},
		&cli.BoolFlag{Name: "insecure", Usage: "allow plain HTTP and unverified TLS (loopback registries always are)"},
		&cli.StringFlag{Name: "username", Aliases: []string{"u"}, Usage: "registry user name (password from --password-stdin)"},
		&cli.BoolFlag{Name: "password-stdin", Usage: "read the registry password from standard input"},
		&cli.StringSliceFlag{Name: "mirror", EnvVars: []string{"ROOTFS_PULL_MIRRORS"}, Usage: "registry mirror tried before Docker Hub: host[:port][/prefix], or REGISTRY=host[/prefix] for another registry (repeatable; env: comma-separated)"},
		&cli.StringFlag{Name: "ca-file", Usage: "PEM file of extra CA certificates for private registries"},
		&cli.StringFlag{Name: "cache-dir", EnvVars: []string{"ROOTFS_PULL_CACHE_DIR"}, Usage: "blob cache directory (default: $XDG_CACHE_HOME/rootfs-pull)"},
		&cli.BoolFlag{Name: "no-cache", Usage: "neither read nor fill the blob cache"},
		&cli.IntFlag{Name: "blob-connections", Value: registry.DefaultBlobConnections, EnvVars: []string{"ROOTFS_PULL_BLOB_CONNECTIONS"}, Usage: fmt.Sprintf("connections one large blob is fetched over at once, in ranges (1 to %d; 1: one stream)", registry.MaxBlobConnections)},
		&cli.BoolFlag{Name: "json", Usage: "print the result as one JSON document on standard output"},
		dnsServerFlag(), debugFlag(),
	}
}

// dnsServerFlag forces the DNS servers rootfs-pull itself asks (not the
// container's: that is --dns).
func dnsServerFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "dns-server", Usage: "DNS server rootfs-pull asks for registry names: IP, IP:port or [IPv6]:port (repeatable; env ROOTFS_PULL_DNS, comma-separated; default: the host's /etc/resolv.conf, else Android's netd, Termux's resolv.conf, 1.1.1.1/8.8.8.8)"}
}

func debugFlag() cli.Flag {
	return &cli.BoolFlag{Name: "debug", EnvVars: []string{"ROOTFS_PULL_DEBUG"}, Usage: "print which DNS resolver answered each name, on standard error"}
}

// hostResolver is the resolver rootfs-pull's own lookups use, from
// --dns-server, ROOTFS_PULL_DNS and what the host has.
func hostResolver(c *cli.Context) (*resolver.Resolver, error) {
	cfg, err := resolver.FromEnv(c.StringSlice("dns-server"))
	if err != nil {
		return nil, usageError{err.Error()}
	}
	r := resolver.New(cfg)
	if c.Bool("debug") {
		w := c.App.ErrWriter
		fmt.Fprintln(w, "rootfs-pull: debug: dns: asking "+r.Describe())
		r.Debug = func(line string) { fmt.Fprintln(w, "rootfs-pull: debug: "+line) }
	}
	return r, nil
}

func pullFlags() []cli.Flag {
	return append(append(registryFlags(), sourceFlags()...),
		&cli.BoolFlag{Name: "force", Usage: "extract into a non-empty directory that is not a rootfs-pull rootfs"},
		&cli.BoolFlag{Name: "update", Usage: "replace a rootfs of the same image at an older digest (pulled beside it, swapped in when complete)"},
		&cli.IntFlag{Name: "jobs", Aliases: []string{"j"}, Value: pull.DefaultJobs, Usage: "layers downloading (into the cache) while one is applied"},
		&cli.StringFlag{Name: "runtime", Value: "auto", Usage: "the launcher's runtime: proot, chroot, ruri or auto (root: chroot, or ruri if installed; others: proot)"},
		&cli.StringFlag{Name: "launcher", Usage: "where to write the start script (default: start-NAME.sh beside DIR; - for none)"},
		&cli.StringSliceFlag{Name: "dns", Usage: "DNS server written into the rootfs's own /etc/resolv.conf, for the container (default: the host's, else Termux's, else 1.1.1.1 and 8.8.8.8; rootfs-pull's own lookups: --dns-server)"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing but errors"},
		&cli.BoolFlag{Name: "restore-defaults", Usage: "restoring an export archive: also install the launcher defaults file it holds (options such as -v that give the container host files; without this flag they are only shown)"},
	)
}

// registryClient builds a client from the registry flags.
func registryClient(c *cli.Context, stdin io.Reader, onRetry func(registry.RetryEvent)) (*registry.Client, *resolver.Resolver, error) {
	res, err := hostResolver(c)
	if err != nil {
		return nil, nil, err
	}
	client, err := newRegistryClient(c, stdin, onRetry, res)
	return client, res, err
}

func newRegistryClient(c *cli.Context, stdin io.Reader, onRetry func(registry.RetryEvent), res *resolver.Resolver) (*registry.Client, error) {
	ropts := registry.Options{Insecure: c.Bool("insecure"), UserAgent: "rootfs-pull/" + version, CAFile: c.String("ca-file"), OnRetry: onRetry, Resolver: res}
	for _, m := range splitList(c.StringSlice("mirror")) {
		reg, mirror, err := registry.ParseMirror(m)
		if err != nil {
			return nil, usageError{err.Error()}
		}
		if ropts.Mirrors == nil {
			ropts.Mirrors = map[string][]string{}
		}
		ropts.Mirrors[reg] = append(ropts.Mirrors[reg], mirror)
	}
	ropts.BlobConnections = c.Int("blob-connections")
	if n := ropts.BlobConnections; n < 1 || n > registry.MaxBlobConnections {
		return nil, usageError{fmt.Sprintf("--blob-connections %d: want 1 to %d", n, registry.MaxBlobConnections)}
	}
	if !c.Bool("no-cache") {
		bc, err := openCache(c.String("cache-dir"))
		if err != nil {
			return nil, cli.Exit(err.Error()+" (or use --no-cache)", exitFailure)
		}
		ropts.Cache = bc
	}
	if c.Bool("password-stdin") {
		if c.String("username") == "" {
			return nil, usageError{"--password-stdin needs --username"}
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && err != io.EOF {
			return nil, cli.Exit("reading the password from standard input: "+err.Error(), exitFailure)
		}
		ropts.Username, ropts.Password = c.String("username"), strings.TrimRight(line, "\r\n")
	} else if c.String("username") != "" {
		return nil, usageError{"--username needs --password-stdin (passwords on the command line leak into shell history)"}
	}
	client, err := registry.NewClient(ropts)
	if err != nil {
		return nil, cli.Exit(err.Error(), exitFailure)
	}
	return client, nil
}

// platformFlag reads --platform (zero: the host's).
func platformFlag(c *cli.Context) (registry.Platform, error) {
	p := c.String("platform")
	if p == "" {
		return registry.Platform{}, nil
	}
	plat, err := registry.ParsePlatform(p)
	if err != nil {
		return plat, usageError{err.Error()}
	}
	return plat, nil
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	pullCmd := &cli.Command{
		Name:      "pull",
		Usage:     "pull IMAGE into DIR as a ready-to-run root filesystem",
		ArgsUsage: "IMAGE DIR",
		Flags:     pullFlags(),
		Description: `Examples:
   rootfs-pull pull ubuntu ./ubuntu
   rootfs-pull pull --platform linux/arm64 alpine:3.20 ./alpine
   echo "$TOKEN" | rootfs-pull pull -u me --password-stdin ghcr.io/me/app:1.0 ./app`,
		Action:       func(c *cli.Context) error { return pullAction(c, stdin, stdout, stderr) },
		OnUsageError: onUsageError,
	}
	cacheCmd := &cli.Command{
		Name:  "cache",
		Usage: "show the blob cache's size, or prune it",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "cache-dir", EnvVars: []string{"ROOTFS_PULL_CACHE_DIR"}, Usage: "blob cache directory (default: $XDG_CACHE_HOME/rootfs-pull)"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON document"},
		},
		Description: `Examples:
   rootfs-pull cache
   rootfs-pull cache prune --older-than 720h
   rootfs-pull cache prune --all`,
		Action:       func(c *cli.Context) error { return cacheAction(c, stdout, false) },
		OnUsageError: onUsageError,
		Subcommands: []*cli.Command{{
			Name:  "prune",
			Usage: "remove cached blobs not used for a while (--older-than) or all of them (--all)",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "cache-dir", EnvVars: []string{"ROOTFS_PULL_CACHE_DIR"}, Usage: "blob cache directory"},
				&cli.DurationFlag{Name: "older-than", Usage: "remove blobs unused for this long, e.g. 720h"},
				&cli.BoolFlag{Name: "all", Usage: "remove every cached blob"},
				&cli.BoolFlag{Name: "json", Usage: "print one JSON document"},
			},
			Action:       func(c *cli.Context) error { return cacheAction(c, stdout, true) },
			OnUsageError: onUsageError,
		}},
	}
	startCmd := &cli.Command{
		Name:      "start-command",
		Usage:     "print how to start the rootfs in DIR again",
		ArgsUsage: "DIR",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "runtime", Usage: "show the command line of this runtime (default: the launcher's)"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON document"},
		},
		Description: `Examples:
   rootfs-pull start-command ./ubuntu
   rootfs-pull start-command --runtime chroot ./ubuntu`,
		Action:       func(c *cli.Context) error { return startCommandAction(c, stdout) },
		OnUsageError: onUsageError,
	}
	return &cli.App{
		Name:      "rootfs-pull",
		Usage:     "turn any Docker/OCI image into a ready-to-run root filesystem, without Docker",
		UsageText: "rootfs-pull [options] IMAGE DIR\n   rootfs-pull command [options] [arguments...]",
		Version:   fmt.Sprintf("%s (commit %s, %s, %s/%s)", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH),
		Description: `Examples:
   rootfs-pull ubuntu ./ubuntu
   rootfs-pull --platform linux/arm/v7 debian:bookworm ./debian
   rootfs-pull 127.0.0.1:5000/demo/busybox ./busybox

Exit status: 0 done, 1 failed, 2 bad usage, 130 interrupted.`,
		Flags:                pullFlags(),
		Commands:             append([]*cli.Command{pullCmd, startCmd, cacheCmd, rmCommand(stdout), exportCommand(stdout, stderr), lsCommand(stdout, stderr)}, otherCommands(stdin, stdout, stderr)...),
		Reader:               stdin,
		Writer:               stdout,
		ErrWriter:            stderr,
		HideHelpCommand:      true,
		EnableBashCompletion: true,
		ExitErrHandler:       func(*cli.Context, error) {}, // run() prints errors, once
		OnUsageError:         onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return cli.ShowAppHelp(c)
			}
			return pullAction(c, stdin, stdout, stderr)
		},
	}
}

// onUsageError keeps urfave/cli from printing the whole help on a bad
// flag: run() prints one line.
func onUsageError(_ *cli.Context, err error, _ bool) error { return usageError{err.Error()} }

func pullAction(c *cli.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	if c.NArg() != 2 {
		return usageError{fmt.Sprintf("want IMAGE and DIR, got %d argument(s)", c.NArg())}
	}
	opts := pull.Options{Image: c.Args().Get(0), Dir: c.Args().Get(1), Force: c.Bool("force"),
		Launcher: c.String("launcher"), DNS: c.StringSlice("dns"), Update: c.Bool("update"), Jobs: c.Int("jobs")}
	if opts.Jobs < 1 || opts.Jobs > 32 {
		return usageError{fmt.Sprintf("--jobs %d: want 1 to 32", opts.Jobs)}
	}
	rt, err := launcher.ParseRuntime(c.String("runtime"))
	if err != nil {
		return usageError{err.Error()}
	}
	opts.Runtime = rt
	for _, d := range opts.DNS {
		if net.ParseIP(d) == nil {
			return usageError{fmt.Sprintf("--dns %q: want an IP address", d)}
		}
	}
	if opts.Platform, err = platformFlag(c); err != nil {
		return err
	}
	spec, err := source.Parse(opts.Image)
	if err != nil {
		return usageError{err.Error()}
	}
	if spec.Kind == source.Registry {
		if err := bareFileError(opts.Image); err != nil {
			return err
		}
		if _, err := registry.ParseReference(opts.Image); err != nil {
			return usageError{err.Error()}
		}
	}
	if err := checkSourceFlags(c, spec); err != nil {
		return err
	}
	if opts.Launcher == "" {
		opts.Launcher = launcher.DefaultName(opts.Dir)
	}
	out := newPrinter(stdout, stderr, c.Bool("quiet"), c.Bool("json"))
	opts.Progress = out.progress
	client, dns, err := registryClient(c, stdin, out.retry)
	if err != nil {
		return err
	}
	out.dns = dns.Answered
	var res *pull.Result
	kind := spec.Kind
	var restore *export.Source
	if spec.Kind == source.Registry {
		res, err = pull.Pull(c.Context, client, opts)
	} else {
		var src pull.Source
		if src, err = openSource(c.Context, c, spec, dns); err == nil {
			if restore, _ = src.(*export.Source); restore != nil {
				kind = "export"
			} else if c.Bool("restore-defaults") {
				return usageError{"--restore-defaults is for an export archive (made by rootfs-pull export); " + safetext.Cut(opts.Image, 80) + " is a rootfs tarball"}
			}
			res, err = pull.PullFrom(c.Context, src, opts)
		}
	}
	out.endProgress(err == nil)
	recordIndex(stderr, opts.Dir, err == nil)
	if err == nil && restore != nil {
		restoreDefaults(c, stderr, restore, res.Launcher)
	}
	if err != nil {
		msg := pull.Explain(err, opts)
		out.failure(msg)
		if errors.Is(err, context.Canceled) || c.Context.Err() != nil {
			return cli.Exit(msg, exitInterrupted)
		}
		return cli.Exit(msg, exitFailure)
	}
	out.success(res, kind)
	return nil
}

// jsonResult is the documented --json output of a pull (see README).
type jsonResult struct {
	Image       string       `json:"image"`
	Reference   string       `json:"reference"`
	Digest      string       `json:"digest"`
	IndexDigest string       `json:"index_digest,omitempty"`
	Platform    string       `json:"platform"`
	Dir         string       `json:"dir"`
	Layers      int          `json:"layers"`
	Size        int64        `json:"size"`
	UpToDate    bool         `json:"up_to_date"`
	Resumed     int          `json:"resumed_layers"`
	Seconds     float64      `json:"seconds"`
	Stats       rootfs.Stats `json:"stats"`
	DroppedEnv  []string     `json:"dropped_env,omitempty"` // the image's bad Env entries, left out
	DNS         []string     `json:"dns,omitempty"`         // the resolvers that answered rootfs-pull's lookups
	Source      string       `json:"source"`                // registry, docker-archive, oci, oci-archive, lxc, file or url
	Verified    bool         `json:"verified"`              // false only for a rootfs tarball without --sha256
	jsonStart
}

// jsonStart is how to start the rootfs, in pull and start-command output.
type jsonStart struct {
	Launcher       string   `json:"launcher,omitempty"`
	StartCommand   []string `json:"start_command"`
	DefaultCommand []string `json:"default_command"`
	Runtime        string   `json:"runtime"`
	RuntimeCommand []string `json:"runtime_command"`
	Qemu           string   `json:"qemu,omitempty"`
	// The launcher's defaults file, its words, and those of its options a
	// raw runtime_command cannot carry (only the launcher does them).
	DefaultsFile string   `json:"defaults_file,omitempty"`
	Defaults     []string `json:"defaults,omitempty"`
	LauncherOnly []string `json:"launcher_only,omitempty"`
}

// writeJSON prints v as indented JSON. Go's encoder escapes control
// characters but sends invisible format characters (bidi overrides that
// reorder what a terminal shows) as they are; those are escaped too, which
// is the same JSON to a parser.
func writeJSON(w io.Writer, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.Encode(v)
	var out strings.Builder
	for _, r := range buf.String() {
		if unicode.Is(unicode.Cf, r) {
			for _, u := range utf16.Encode([]rune{r}) {
				fmt.Fprintf(&out, `\u%04x`, u)
			}
			continue
		}
		out.WriteRune(r)
	}
	io.WriteString(w, out.String())
}

func startCommandAction(c *cli.Context, stdout io.Writer) error {
	if c.NArg() != 1 {
		return usageError{fmt.Sprintf("want DIR, got %d argument(s)", c.NArg())}
	}
	dir := c.Args().First()
	st, err := rootfs.LoadState(dir)
	if err != nil {
		return cli.Exit(fmt.Sprintf("%s: %v: pull an image into it first", dir, err), exitFailure)
	}
	if st.Status != rootfs.StatusReady {
		return cli.Exit(fmt.Sprintf("%s is incomplete (an interrupted pull?): run rootfs-pull %s %s again to finish it", dir, st.Image, dir), exitFailure)
	}
	raw, err := rootfs.ReadStateFile(dir, "config.json") // no-follow, regular files only
	if err != nil {
		return cli.Exit(fmt.Sprintf("%s: the image config is missing (%v): pull again with --force", dir, err), exitFailure)
	}
	var img ocispec.Image
	if err := json.Unmarshal(raw, &img); err != nil {
		return cli.Exit(fmt.Sprintf("%s: the image config is damaged (%v): pull again with --force", dir, err), exitFailure)
	}
	rt := st.Runtime
	if c.String("runtime") != "" {
		if rt, err = launcher.ParseRuntime(c.String("runtime")); err != nil {
			return usageError{err.Error()}
		}
	}
	cfg, err := launcher.NewConfig(dir, img, runtime.GOARCH, rt)
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	cfg.Image, cfg.Digest = st.Image, st.Digest
	// The state's launcher field is the container's to rewrite (state.json
	// is inside the rootfs): the script is named as the way to start it
	// only when it is this rootfs's launcher, outside it.
	script := st.Launcher
	if script != "" && !launcherFor(script, dir) {
		if _, err := os.Lstat(script); err == nil && !c.Bool("json") {
			fmt.Fprintf(c.App.ErrWriter, "rootfs-pull: note: %s is not a launcher rootfs-pull wrote for %s: not using it (pull again to write one)\n", safetext.Clean(script), safetext.Clean(dir))
		}
		script = ""
	}
	info, err := newStartInfo(dir, script, cfg)
	if err != nil {
		return cli.Exit(fmt.Sprintf("%s: %v", dir, err), exitFailure)
	}
	if c.Bool("json") {
		writeJSON(stdout, info)
		return nil
	}
	info.print(stdout)
	return nil
}

// launcherFor: script is the launcher rootfs-pull wrote for the rootfs
// at dir (launcher.IsFor, on dir's real path).
func launcherFor(script, dir string) bool {
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	return err == nil && launcher.IsFor(script, abs)
}

// splitList splits comma- or space-separated values (the environment's
// form of a repeatable flag).
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		out = append(out, strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })...)
	}
	return out
}

func openCache(dir string) (*cache.Cache, error) {
	if dir == "" {
		var err error
		if dir, err = cache.DefaultDir(); err != nil {
			return nil, err
		}
	}
	return cache.Open(dir)
}

func cacheAction(c *cli.Context, stdout io.Writer, prune bool) error {
	if c.NArg() != 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", c.Args().First())}
	}
	bc, err := openCache(c.String("cache-dir"))
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	if !prune {
		n, size, err := bc.Usage()
		if err != nil {
			return cli.Exit("cache: "+err.Error(), exitFailure)
		}
		if c.Bool("json") {
			writeJSON(stdout, map[string]any{"dir": bc.Dir(), "blobs": n, "size": size})
		} else {
			fmt.Fprintf(stdout, "%s: %d blob%s, %s\n", bc.Dir(), n, plural(n), humanBytes(size))
		}
		return nil
	}
	older := c.Duration("older-than")
	if (older > 0) == c.Bool("all") {
		return usageError{"cache prune needs --older-than DURATION or --all"}
	}
	n, size, err := bc.Prune(older)
	if err != nil {
		return cli.Exit("cache prune: "+err.Error(), exitFailure)
	}
	if c.Bool("json") {
		writeJSON(stdout, map[string]any{"dir": bc.Dir(), "removed_blobs": n, "removed_size": size})
	} else {
		fmt.Fprintf(stdout, "Removed %d blob%s (%s) from %s\n", n, plural(n), humanBytes(size), bc.Dir())
	}
	return nil
}
