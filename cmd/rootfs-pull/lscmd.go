package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rootfs-pull/rootfs-pull/index"
	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
	"github.com/rootfs-pull/rootfs-pull/launcher"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

// The size walk's bounds, per rootfs: ls stays quick on a phone.
const (
	lsMaxEntries = 2_000_000
	lsMaxTime    = 10 * time.Second
)

func lsCommand(stdout, stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "ls",
		Usage: "list the rootfses you pulled: name, image, platform, size on disk, status, launcher",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print one JSON document"}},
		Description: `The list is kept in $XDG_DATA_HOME/rootfs-pull/index.json (default
~/.local/share/rootfs-pull), updated by pull, update, restore and rm. A
rootfs removed or moved by hand is shown as missing.

Examples:
   rootfs-pull ls
   rootfs-pull ls --json | jq -r '.[] | select(.status=="missing") | .dir'`,
		Action:       func(c *cli.Context) error { return lsAction(c, stdout, stderr) },
		OnUsageError: onUsageError,
	}
}

// openIndex is this user's rootfs index; its one warning goes to stderr.
func openIndex(stderr io.Writer) (index.Index, error) {
	dir, err := index.DefaultDir()
	if err != nil {
		return index.Index{}, err
	}
	return index.Index{Dir: dir, Warn: func(msg string) { fmt.Fprintln(stderr, "rootfs-pull: warning: "+msg) }}, nil
}

// recordIndex records the rootfs at dir (after a pull, update or
// restore) in the index; a rootfs with no state (a pull that failed
// before writing one) is not recorded. Failing to record is a warning,
// never a failed pull.
func recordIndex(stderr io.Writer, dir string, _ bool) {
	st, err := rootfs.LoadState(dir)
	if err != nil {
		return
	}
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs) // as rm names it
	}
	if err != nil {
		return
	}
	ix, err := openIndex(stderr)
	if err == nil {
		err = ix.Put(index.Entry{Dir: abs, Image: st.Image, Reference: st.Reference, Platform: st.Platform, Launcher: st.Launcher})
	}
	if err != nil {
		fmt.Fprintln(stderr, "rootfs-pull: warning: not listed by rootfs-pull ls: "+firstLine(err.Error()))
	}
}

// forgetIndex drops dir from the index (after rm).
func forgetIndex(stderr io.Writer, abs string) {
	ix, err := openIndex(stderr)
	if err == nil {
		err = ix.Remove(abs)
	}
	if err != nil {
		fmt.Fprintln(stderr, "rootfs-pull: warning: rootfs-pull ls may still list it: "+firstLine(err.Error()))
	}
}

// jsonLs is one rootfs in ls --json.
type jsonLs struct {
	Name         string `json:"name"`
	Dir          string `json:"dir"`
	Image        string `json:"image"`
	Reference    string `json:"reference,omitempty"`
	Digest       string `json:"digest,omitempty"`
	Platform     string `json:"platform"`
	Size         int64  `json:"size"`          // bytes on disk
	SizeComplete bool   `json:"size_complete"` // false: at least size (the walk hit its bound)
	Status       string `json:"status"`        // ready, pulling, missing, damaged
	Launcher     string `json:"launcher,omitempty"`
	LauncherOK   bool   `json:"launcher_exists"`
}

func lsAction(c *cli.Context, stdout, stderr io.Writer) error {
	if c.NArg() != 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", safetext.Cut(c.Args().First(), 80))}
	}
	ix, err := openIndex(stderr)
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	entries, err := ix.List()
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	rows := []jsonLs{}
	for _, e := range entries {
		r := jsonLs{Name: filepath.Base(e.Dir), Dir: e.Dir, Image: e.Image, Reference: e.Reference, Platform: e.Platform, Launcher: e.Launcher}
		st, err := rootfs.LoadState(e.Dir)
		switch {
		case errors.Is(err, rootfs.ErrNoState) || errors.Is(err, os.ErrNotExist):
			r.Status = "missing"
		case err != nil:
			r.Status = "damaged"
		default:
			r.Status, r.Image, r.Reference, r.Digest, r.Platform = st.Status, st.Image, st.Reference, st.Digest, st.Platform
			if st.Launcher != "" {
				r.Launcher = st.Launcher
			}
			u := index.DiskUsage(e.Dir, lsMaxEntries, time.Now().Add(lsMaxTime))
			r.Size, r.SizeComplete = u.Bytes, u.Complete
		}
		if r.Launcher != "" && r.Status != "missing" {
			r.LauncherOK = launcher.IsFor(r.Launcher, e.Dir)
		}
		rows = append(rows, r)
	}
	if c.Bool("json") {
		writeJSON(stdout, rows)
		return nil
	}
	if len(rows) == 0 {
		fmt.Fprintln(stdout, "No rootfs pulled yet (rootfs-pull IMAGE DIR pulls one).")
		return nil
	}
	table := [][]string{{"NAME", "IMAGE", "PLATFORM", "SIZE", "STATUS", "LAUNCHER"}}
	for _, r := range rows {
		size := "-"
		if r.Status != "missing" {
			size = humanBytes(r.Size)
			if !r.SizeComplete {
				size = "≥" + size
			}
		}
		l := "-"
		if r.LauncherOK {
			l = r.Launcher
		} else if r.Launcher != "" && r.Status != "missing" {
			l = "(missing) " + r.Launcher
		}
		name := r.Dir
		// The state is written by whatever runs in the container: every
		// cell from it is escaped.
		table = append(table, []string{safetext.Cut(name, 60), safetext.Cut(r.Image, 40), safetext.Cut(r.Platform, 40), size, safetext.Cut(r.Status, 20), safetext.Cut(l, 80)})
	}
	widths := make([]int, len(table[0]))
	for _, row := range table {
		for i, cell := range row {
			widths[i] = max(widths[i], len([]rune(cell)))
		}
	}
	for _, row := range table {
		var b strings.Builder
		for i, cell := range row {
			if i == len(row)-1 {
				b.WriteString(cell)
				break
			}
			b.WriteString(cell + strings.Repeat(" ", widths[i]-len([]rune(cell))+2))
		}
		fmt.Fprintln(stdout, strings.TrimRight(b.String(), " "))
	}
	return nil
}
