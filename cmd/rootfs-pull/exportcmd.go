package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rootfs-pull/rootfs-pull/export"
	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
	"github.com/rootfs-pull/rootfs-pull/launcher"
)

func exportCommand(stdout, stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "back up a ready rootfs, its state and its launcher's defaults to one archive (restore: rootfs-pull FILE DIR)",
		ArgsUsage: "DIR FILE.tar[.gz|.xz|.zst]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print one JSON document"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing but errors"},
		},
		Description: `Every entry is kept: owners, modes, times, xattrs, device nodes, hard links
(as root; a rootfs pulled without root records its owner as root). The
archive appears under its name only when complete; an existing file is
never replaced.

Examples:
   rootfs-pull export ./ubuntu ubuntu-backup.tar.zst
   rootfs-pull ./ubuntu-backup.tar.zst ./ubuntu2      # restore, with a new launcher
   rootfs-pull --restore-defaults ./ubuntu-backup.tar.zst ./ubuntu2   # and the defaults file

A restore installs the archive's launcher defaults file only with
--restore-defaults (its options decide what of this machine the container
sees); otherwise it shows them.`,
		Action:       func(c *cli.Context) error { return exportAction(c, stdout, stderr) },
		OnUsageError: onUsageError,
	}
}

// jsonExport is the --json output of export.
type jsonExport struct {
	Dir         string  `json:"dir"`
	File        string  `json:"file"`
	Compression string  `json:"compression"`
	Image       string  `json:"image"`
	Reference   string  `json:"reference"`
	Digest      string  `json:"digest"`
	Platform    string  `json:"platform"`
	Entries     int     `json:"entries"`
	Bytes       int64   `json:"bytes"`
	Size        int64   `json:"size"`
	Defaults    bool    `json:"defaults_file"`
	OwnersRoot  bool    `json:"owners_mapped_to_root"`
	Seconds     float64 `json:"seconds"`
}

func exportAction(c *cli.Context, stdout, stderr io.Writer) error {
	if c.NArg() != 2 {
		return usageError{fmt.Sprintf("want DIR and FILE, got %d argument(s)", c.NArg())}
	}
	dir, file := c.Args().Get(0), c.Args().Get(1)
	if _, err := export.CompressionOf(file); err != nil {
		return usageError{err.Error()}
	}
	quiet := c.Bool("quiet") || c.Bool("json")
	var o export.Options
	last := time.Now()
	if !quiet {
		o.Progress = func(p export.Progress) {
			if p.Done || time.Since(last) < time.Second {
				return
			}
			last = time.Now()
			fmt.Fprintf(stderr, "exporting %s: %d entries, %s read, %s written\n", safetext.Clean(dir), p.Entries, humanBytes(p.Bytes), humanBytes(p.Written))
		}
	}
	res, err := export.Export(c.Context, dir, file, o)
	if err != nil {
		msg := err.Error()
		if c.Bool("json") {
			writeJSON(stdout, map[string]any{"error": msg})
		}
		if errors.Is(err, context.Canceled) || c.Context.Err() != nil {
			return cli.Exit("interrupted: "+msg+" (nothing was written)", exitInterrupted)
		}
		if errors.Is(err, os.ErrNotExist) {
			msg += ": is it a rootfs made by rootfs-pull?"
		}
		return cli.Exit(msg, exitFailure)
	}
	if c.Bool("json") {
		writeJSON(stdout, jsonExport{Dir: res.Dir, File: res.File, Compression: string(res.Compression),
			Image: res.Marker.Image, Reference: res.Marker.Reference, Digest: res.Marker.Digest, Platform: res.Marker.Platform,
			Entries: res.Entries, Bytes: res.Bytes, Size: res.Size, Defaults: res.Defaults, OwnersRoot: res.Marker.OwnersMappedToRoot,
			Seconds: res.Duration.Seconds()})
		return nil
	}
	if c.Bool("quiet") {
		return nil
	}
	defs := ""
	if res.Defaults {
		defs = ", with the launcher's defaults file"
	}
	fmt.Fprintf(stdout, "Exported %s (%s, %s) to %s: %d entries, %s of files, %s archive (%s)%s, %s\n",
		safetext.Clean(dir), safetext.Clean(res.Marker.Image), safetext.Clean(res.Marker.Platform), safetext.Clean(file), res.Entries,
		humanBytes(res.Bytes), humanBytes(res.Size), res.Compression, defs, res.Duration.Round(10*time.Millisecond))
	if res.Marker.OwnersMappedToRoot {
		fmt.Fprintln(stdout, "It was pulled without root: its files are recorded as root's, as proot shows them.")
	}
	fmt.Fprintf(stdout, "Restore it with:\n  rootfs-pull %s DIR\n", safetext.Clean(fileArg(file)))
	if res.Defaults {
		fmt.Fprintln(stdout, "(add --restore-defaults to install the launcher's defaults file beside the new launcher too)")
	}
	return nil
}

// fileArg is file as a restore must name it: with a path (./x.tar),
// never as a bare name (an image name).
func fileArg(file string) string {
	if len(file) > 0 && (file[0] == '/' || (len(file) > 1 && file[:2] == "./") || (len(file) > 2 && file[:3] == "../")) {
		return file
	}
	return "./" + file
}

// maxShownDefaults is how many of an archive's default options a restore
// lists; a longer file is named instead.
const maxShownDefaults = 20

// restoreDefaults deals with an export archive's launcher defaults file.
// The launcher takes its lines as the user's own options, before its
// arguments, and the archive can come from anyone: -v /:/host or
// --shared-home in it would hand the container the host's files at the
// first start. So they are installed beside the new launcher only with
// --restore-defaults; otherwise they are shown, escaped, with how to
// install them.
func restoreDefaults(c *cli.Context, stderr io.Writer, src *export.Source, script string) {
	lines, ok := src.Defaults()
	if !ok || script == "" || script == "-" {
		return
	}
	if !c.Bool("restore-defaults") {
		if len(lines) == 0 || c.Bool("quiet") {
			return
		}
		fmt.Fprintf(stderr, "rootfs-pull: note: the archive holds launcher defaults, options %s would take as yours; not installed, as they choose what of this machine the container sees (check them, then run the same command with --restore-defaults, or write %s yourself):\n",
			safetext.Clean(filepath.Base(script)), safetext.Clean(launcher.DefaultsPath(script)))
		for i, l := range lines {
			if i == maxShownDefaults && len(lines) > maxShownDefaults+1 {
				fmt.Fprintf(stderr, "  … and %d more (tar -xOf the archive .rootfs-pull-export/defaults shows them all)\n", len(lines)-i)
				break
			}
			fmt.Fprintf(stderr, "  %s\n", safetext.Cut(l, 200))
		}
		return
	}
	p, err := src.WriteDefaults(script)
	switch {
	case err != nil:
		fmt.Fprintln(stderr, "rootfs-pull: warning: "+firstLine(err.Error()))
	case p != "" && !c.Bool("quiet") && !c.Bool("json"):
		fmt.Fprintf(stderr, "rootfs-pull: restored the launcher's defaults file %s\n", safetext.Clean(p))
	}
}
