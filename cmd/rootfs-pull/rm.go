package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/rootfs-pull/rootfs-pull/launcher"
	"github.com/rootfs-pull/rootfs-pull/pull"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

func rmCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Usage:     "remove a rootfs made by rootfs-pull, read-only directories and all, and its launcher",
		ArgsUsage: "DIR",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print one JSON document"}},
		Description: `Refuses a directory rootfs-pull did not make, and one with something mounted
inside (a running chroot container, or ruri's mounts: ruri -U DIR first).

Examples:
   rootfs-pull rm ./ubuntu`,
		Action:       func(c *cli.Context) error { return rmAction(c, stdout) },
		OnUsageError: onUsageError,
	}
}

func rmAction(c *cli.Context, stdout io.Writer) error {
	if c.NArg() != 1 {
		return usageError{fmt.Sprintf("want DIR, got %d argument(s)", c.NArg())}
	}
	dir := c.Args().First()
	st, err := rootfs.LoadState(dir)
	if err != nil {
		return cli.Exit(fmt.Sprintf("%s: %v: not removing it (remove it yourself if you are sure)", dir, err), exitFailure)
	}
	// The real path: mountinfo lists real paths, and a symlink on the way
	// must not hide a mount.
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return cli.Exit(fmt.Sprintf("%s: %v", dir, err), exitFailure)
	}
	unlock, err := rootfs.Lock(abs)
	if err != nil {
		return cli.Exit(fmt.Sprintf("%s: %v", dir, err), exitFailure)
	}
	defer unlock()
	// Under the lock: a bind mount inside would have rm delete the host's
	// /dev or /sdcard.
	if err := rootfs.CheckNoMounts(abs); err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	removed := []string{}
	if launcher.IsFor(st.Launcher, abs) {
		if err := os.Remove(st.Launcher); err == nil {
			removed = append(removed, st.Launcher)
		}
	}
	for _, sib := range pull.WorkSiblings(abs) { // an unfinished --update
		if rootfs.RemoveTree(sib) == nil {
			removed = append(removed, sib)
		}
	}
	if err := rootfs.RemoveTree(abs); err != nil {
		return cli.Exit(fmt.Sprintf("remove %s: %v", dir, err), exitFailure)
	}
	removed = append([]string{abs}, removed...)
	forgetIndex(c.App.ErrWriter, abs)
	if c.Bool("json") {
		writeJSON(stdout, map[string]any{"removed": removed})
		return nil
	}
	fmt.Fprintf(stdout, "Removed %s\n", strings.Join(removed, ", "))
	return nil
}
