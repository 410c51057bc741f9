package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
	"github.com/rootfs-pull/rootfs-pull/launcher"
	"github.com/rootfs-pull/rootfs-pull/pull"
	"github.com/rootfs-pull/rootfs-pull/registry"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
	"github.com/rootfs-pull/rootfs-pull/source"
)

// printer writes progress and results: live lines on a terminal, one
// plain line per event otherwise, nothing but errors with --quiet, and one
// JSON document with --json.
type printer struct {
	mu          sync.Mutex
	stdout      io.Writer
	stderr      io.Writer
	quiet, json bool
	bars        *bars           // on a terminal; nil otherwise
	dns         func() []string // the resolvers that answered, for --json
}

func (p *printer) answered() []string {
	if p.dns == nil {
		return nil
	}
	return p.dns()
}

func newPrinter(stdout, stderr io.Writer, quiet, asJSON bool) *printer {
	p := &printer{stdout: stdout, stderr: stderr, quiet: quiet, json: asJSON}
	if f, ok := stderr.(*os.File); ok && !quiet && !asJSON {
		_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
		if err == nil && os.Getenv("TERM") != "dumb" {
			p.bars = newBars(stderr)
		}
	}
	return p
}

func (p *printer) progress(e pull.Event) {
	if p.quiet || p.json {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bars != nil {
		p.bars.event(e)
		return
	}
	short := shortDigest(string(e.Digest))
	switch e.Kind {
	case pull.EventLayerStart:
		fmt.Fprintf(p.stderr, "layer %d/%d %s: pulling %s\n", e.Index, e.Count, short, humanBytes(e.Size))
	case pull.EventLayerDone:
		fmt.Fprintf(p.stderr, "layer %d/%d %s: applied (%s)\n", e.Index, e.Count, short, humanBytes(e.Size))
	case pull.EventLayerCached:
		fmt.Fprintf(p.stderr, "layer %d/%d %s: already applied\n", e.Index, e.Count, short)
	}
}

// retry says once per retry what is being retried and why.
func (p *printer) retry(e registry.RetryEvent) {
	if p.quiet || p.json {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	line := fmt.Sprintf("retrying in %s (try %d): %s\n", e.Wait.Round(100*time.Millisecond), e.Attempt, e.Reason)
	if p.bars != nil {
		p.bars.write(line)
		return
	}
	fmt.Fprint(p.stderr, line)
}

// endProgress finishes the display: bars completed (ok) or dropped.
func (p *printer) endProgress(ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bars != nil {
		p.bars.end(ok)
	}
}

// failure prints nothing on stderr itself (run does, once); with --json
// it also puts the error on stdout for scripts reading only that.
func (p *printer) failure(msg string) {
	if p.json {
		writeJSON(p.stdout, map[string]any{"error": msg})
	}
}

func (p *printer) success(r *pull.Result, kind source.Kind) {
	im := r.Image
	info, infoErr := newStartInfo(r.Dir, r.Launcher, r.Launch)
	if infoErr != nil { // the pull checks the image first: not expected
		fmt.Fprintln(p.stderr, "rootfs-pull: warning: no start command: "+infoErr.Error())
	}
	if p.json {
		writeJSON(p.stdout, jsonResult{
			Image: im.DisplayName(), Reference: im.Identity(), Digest: im.Digest.String(),
			IndexDigest: im.IndexDigest.String(), Platform: im.Platform.String(), Dir: r.Dir,
			Layers: len(im.Manifest.Layers), Size: im.Size(), UpToDate: r.UpToDate, Resumed: r.Resumed,
			Seconds: r.Duration.Seconds(), Stats: r.Stats, DroppedEnv: r.Launch.DroppedEnv, jsonStart: info,
			DNS: p.answered(), Source: string(kind), Verified: !im.Unverified,
		})
		return
	}
	if p.quiet {
		return
	}
	if w := r.Launch.DroppedEnvWarning(); w != "" {
		fmt.Fprintln(p.stderr, "rootfs-pull: warning: "+w)
	}
	if im.Unverified {
		note := "no --sha256 was given"
		if d := im.Manifest.Layers[0].Digest; d != "" {
			note += "; its sha256 is " + d.Encoded() + ": compare it with the one its publisher gives"
		}
		fmt.Fprintf(p.stderr, "rootfs-pull: note: %s was not verified: %s\n", display(im.DisplayName()), note)
	}
	if kind == "export" && !r.UpToDate {
		fmt.Fprintf(p.stdout, "Restored %s (%s, %s) into %s from an export archive (%s), %s\n",
			display(im.DisplayName()), display(im.Platform.String()), digestOrUnverified(im.Digest.String()), r.Dir, humanBytes(im.Size()), r.Duration.Round(10*time.Millisecond))
		if note := skippedNote(r.Stats); note != "" {
			fmt.Fprintln(p.stdout, note)
		}
	} else if r.UpToDate {
		fmt.Fprintf(p.stdout, "%s is up to date with %s (%s, %s)\n", r.Dir, display(im.DisplayName()), display(im.Platform.String()), digestOrUnverified(im.Digest.String()))
	} else {
		fmt.Fprintf(p.stdout, "Pulled %s (%s, %s) into %s: %s in %d layer%s, %s\n",
			display(im.DisplayName()), display(im.Platform.String()), digestOrUnverified(im.Digest.String()), r.Dir, humanBytes(im.Size()),
			len(im.Manifest.Layers), plural(len(im.Manifest.Layers)), r.Duration.Round(10*time.Millisecond))
		if note := skippedNote(r.Stats); note != "" {
			fmt.Fprintln(p.stdout, note)
		}
		if os.Geteuid() == 0 {
			if reachable(r.Dir) {
				fmt.Fprintf(p.stderr, "rootfs-pull: note: every user of this machine can reach %s, and the image's setuid programs and device nodes work for them too: keep rootfses in a directory only root can enter (chmod 700 %s)\n",
					r.Dir, filepath.Dir(r.Dir))
			}
		}
	}
	if infoErr == nil {
		info.print(p.stdout)
	}
}

// reachable says whether other users can reach dir: every directory
// from / down to dir lets them through. As root, a rootfs reachable that
// way hands its setuid-root programs and device nodes to every local
// user, as Docker's data root (0710) does not.
func reachable(dir string) bool {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	for p := abs; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if p == "/" {
			return true
		}
	}
}

// newStartInfo says how to start the rootfs in dir: through its launcher
// script (if one was written), and with the raw runtime command line. The
// launcher's defaults file, beside it, is applied to the raw line where a
// raw line can carry its options (start-command shows the effective
// command line).
func newStartInfo(dir, script string, cfg launcher.Config) (jsonStart, error) {
	rt := launcher.Effective(cfg.Runtime, os.Geteuid() == 0)
	var opts launcher.Options
	var defaults []string
	if script != "" {
		var err error
		file := launcher.DefaultsPath(script)
		if defaults, err = launcher.ReadDefaults(file, os.Getenv("HOME")); err != nil {
			return jsonStart{}, err
		}
		if opts, _, err = launcher.ParseOptions(defaults); err != nil {
			return jsonStart{}, fmt.Errorf("%s: %w", file, err)
		}
	}
	line, left, err := launcher.CommandWith(rt, dir, cfg, opts, nil)
	if err != nil {
		return jsonStart{}, err
	}
	info := jsonStart{
		DefaultCommand: cfg.DefaultCommand(),
		Runtime:        rt,
		RuntimeCommand: line,
		Defaults:       defaults,
		LauncherOnly:   left,
	}
	if len(defaults) > 0 {
		info.DefaultsFile = displayPath(launcher.DefaultsPath(script))
	}
	if opts.Entrypoint != nil { // as docker run --entrypoint: the Cmd goes too
		info.DefaultCommand = []string{*opts.Entrypoint}
	}
	if cfg.QemuArch != "" {
		info.Qemu, _ = launcher.FindQemu(cfg.QemuArch)
	}
	info.StartCommand = info.RuntimeCommand
	if script != "" {
		info.Launcher = displayPath(script)
		info.StartCommand = []string{info.Launcher}
	}
	return info, nil
}

// displayPath is p as a user types it: relative to the working directory
// when under it, with ./ for a bare name.
func displayPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		if wd, err := os.Getwd(); err == nil {
			if rel, err := filepath.Rel(wd, abs); err == nil && !strings.HasPrefix(rel, "..") {
				p = rel
			}
		}
	}
	if !filepath.IsAbs(p) && !strings.HasPrefix(p, "./") && !strings.HasPrefix(p, "../") {
		p = "./" + p
	}
	return p
}

func (s jsonStart) print(w io.Writer) {
	def := displayArgs(s.DefaultCommand)
	if s.Launcher != "" {
		l := displayArgs([]string{s.Launcher})
		fmt.Fprintf(w, "Start it with:\n  %s\t\t# runs %s\n  %s ls -l /\t# or any command\n", l, def, l)
		if len(s.Defaults) > 0 {
			fmt.Fprintf(w, "  (with the options of %s first: %s)\n", display(s.DefaultsFile), displayArgs(s.Defaults))
			fmt.Fprintf(w, "Without the launcher (%s), with those options:\n  %s\n", s.Runtime, displayArgs(s.RuntimeCommand))
			if len(s.LauncherOnly) > 0 {
				fmt.Fprintf(w, "  (only the launcher does: %s)\n", displayArgs(s.LauncherOnly))
			}
		} else {
			fmt.Fprintf(w, "Without the launcher (%s):\n  %s\n", s.Runtime, displayArgs(s.RuntimeCommand))
		}
	} else {
		fmt.Fprintf(w, "Start it with (%s):\n  %s\n", s.Runtime, displayArgs(s.RuntimeCommand))
	}
	if s.Qemu != "" {
		if filepath.IsAbs(s.Qemu) {
			fmt.Fprintf(w, "It is for another architecture: it runs through %s.\n", s.Qemu)
		} else {
			fmt.Fprintf(w, "It is for another architecture: install %s first (Debian/Ubuntu: apt install qemu-user-static; Termux: pkg install qemu-user-%s).\n",
				s.Qemu, strings.TrimSuffix(strings.TrimPrefix(s.Qemu, "qemu-"), "-static"))
		}
	}
}

// display makes text from an image or the network safe to print on a
// terminal: control characters (escape sequences, carriage returns, bidi
// overrides) are shown escaped, never sent.
func display(s string) string { return safetext.Cut(s, 0) }

// displayArgs is a command line as a shell reads it back, for printing:
// exact when it holds no control character; otherwise the control
// characters are shown escaped (\x1b) and the line is for reading, not
// for pasting (--json has it exactly).
func displayArgs(args []string) string { return display(launcher.QuoteArgs(args)) }

// skippedNote says once what a non-root pull could not reproduce.
func skippedNote(s rootfs.Stats) string {
	var parts []string
	if s.SkippedChown > 0 {
		parts = append(parts, fmt.Sprintf("ownership of %d entries", s.SkippedChown))
	}
	if s.SkippedDevices > 0 {
		parts = append(parts, fmt.Sprintf("%d device nodes", s.SkippedDevices))
	}
	if s.SkippedFIFOs > 0 {
		parts = append(parts, fmt.Sprintf("%d FIFOs", s.SkippedFIFOs))
	}
	if s.SkippedXattrs > 0 {
		parts = append(parts, fmt.Sprintf("%d extended attributes", s.SkippedXattrs))
	}
	if s.HardlinkCopies > 0 {
		parts = append(parts, fmt.Sprintf("%d hard links (copied instead)", s.HardlinkCopies))
	}
	if len(parts) == 0 {
		return ""
	}
	return "Without root, left out: " + strings.Join(parts, ", ") + " (proot's fake root covers ownership)"
}

// shortDigest keeps the algorithm and 12 hex digits, as docker shows them.
func shortDigest(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func humanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// digestOrUnverified is a short digest, or what stands for none (a
// tarball by URL without --sha256).
func digestOrUnverified(d string) string {
	if d == "" {
		return "unverified"
	}
	return shortDigest(d)
}
