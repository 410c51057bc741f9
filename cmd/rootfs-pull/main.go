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
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/rootfs-pull/rootfs-pull/pull"
	"github.com/rootfs-pull/rootfs-pull/registry"
)

// version is stamped by the release build (-ldflags -X main.version=…).
var version = "dev"

// Exit statuses.
const (
	exitFailure     = 1
	exitUsage       = 2
	exitInterrupted = 130
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr))
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
	err := app.RunContext(ctx, flagsFirst(args, valueFlags(app)))
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
		fmt.Fprintf(stderr, "rootfs-pull: %s (see rootfs-pull --help)\n", ue.msg)
		return exitUsage
	default:
		// urfave/cli's own flag errors.
		fmt.Fprintf(stderr, "rootfs-pull: %s (see rootfs-pull --help)\n", firstLine(err.Error()))
		return exitUsage
	}
}

// valueFlags lists the flag names (with dashes) that take a value.
func valueFlags(app *cli.App) map[string]bool {
	m := map[string]bool{}
	for _, f := range app.Flags {
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
// at the first argument, so flags are moved before the arguments.
func flagsFirst(args []string, takesValue map[string]bool) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	rest := args[1:]
	if len(rest) > 0 && rest[0] == "pull" {
		out, rest = append(out, "pull"), rest[1:]
	}
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

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func pullFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "platform", Usage: "os/arch[/variant] to pull from a multi-platform image (default: this machine's)"},
		&cli.BoolFlag{Name: "insecure", Usage: "allow plain HTTP and unverified TLS (loopback registries always are)"},
		&cli.StringFlag{Name: "username", Aliases: []string{"u"}, Usage: "registry user name (password from --password-stdin)"},
		&cli.BoolFlag{Name: "password-stdin", Usage: "read the registry password from standard input"},
		&cli.BoolFlag{Name: "force", Usage: "extract into a non-empty directory that is not a rootfs-pull rootfs"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing but errors"},
		&cli.BoolFlag{Name: "json", Usage: "print the result as one JSON document on standard output"},
	}
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
	return &cli.App{
		Name:      "rootfs-pull",
		Usage:     "turn any Docker/OCI image into a ready-to-run root filesystem, without Docker",
		UsageText: "rootfs-pull [options] IMAGE DIR\n   rootfs-pull command [options] [arguments...]",
		Version:   version,
		Description: `Examples:
   rootfs-pull ubuntu ./ubuntu
   rootfs-pull --platform linux/arm/v7 debian:bookworm ./debian
   rootfs-pull 127.0.0.1:5000/demo/busybox ./busybox

Exit status: 0 done, 1 failed, 2 bad usage, 130 interrupted.`,
		Flags:                pullFlags(),
		Commands:             []*cli.Command{pullCmd},
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
	opts := pull.Options{Image: c.Args().Get(0), Dir: c.Args().Get(1), Force: c.Bool("force")}
	if p := c.String("platform"); p != "" {
		plat, err := registry.ParsePlatform(p)
		if err != nil {
			return usageError{err.Error()}
		}
		opts.Platform = plat
	}
	if _, err := registry.ParseReference(opts.Image); err != nil {
		return usageError{err.Error()}
	}
	ropts := registry.Options{Insecure: c.Bool("insecure"), UserAgent: "rootfs-pull/" + version}
	if c.Bool("password-stdin") {
		if c.String("username") == "" {
			return usageError{"--password-stdin needs --username"}
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && err != io.EOF {
			return cli.Exit("reading the password from standard input: "+err.Error(), exitFailure)
		}
		ropts.Username, ropts.Password = c.String("username"), strings.TrimRight(line, "\r\n")
	} else if c.String("username") != "" {
		return usageError{"--username needs --password-stdin (passwords on the command line leak into shell history)"}
	}
	client, err := registry.NewClient(ropts)
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	out := newPrinter(stdout, stderr, c.Bool("quiet"), c.Bool("json"))
	opts.Progress = out.progress
	res, err := pull.Pull(c.Context, client, opts)
	out.endProgress()
	if err != nil {
		msg := pull.Explain(err, opts)
		out.failure(msg)
		if errors.Is(err, context.Canceled) || c.Context.Err() != nil {
			return cli.Exit(msg, exitInterrupted)
		}
		return cli.Exit(msg, exitFailure)
	}
	out.success(res)
	return nil
}

// jsonResult is the documented --json output of a pull (see README).
type jsonResult struct {
	Image        string   `json:"image"`
	Reference    string   `json:"reference"`
	Digest       string   `json:"digest"`
	IndexDigest  string   `json:"index_digest,omitempty"`
	Platform     string   `json:"platform"`
	Dir          string   `json:"dir"`
	Layers       int      `json:"layers"`
	Size         int64    `json:"size"`
	UpToDate     bool     `json:"up_to_date"`
	Resumed      int      `json:"resumed_layers"`
	Seconds      float64  `json:"seconds"`
	StartCommand []string `json:"start_command"`
	Stats        any      `json:"stats"`
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
