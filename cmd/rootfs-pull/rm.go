package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

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
	abs, err := filepath.Abs(dir)
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	st, err := rootfs.LoadState(dir)
	if err != nil {
		return cli.Exit(fmt.Sprintf("%s: %v: not removing it (remove it yourself if you are sure)", dir, err), exitFailure)
	}
	// A bind mount inside would have rm delete the host's /dev or /proc.
	if mounts := mountsUnder(abs); len(mounts) > 0 {
		return cli.Exit(fmt.Sprintf("%s has %d mount(s) inside (%s): end the containers using it, or run ruri -U %s, then try again",
			dir, len(mounts), mounts[0], dir), exitFailure)
	}
	unlock, err := rootfs.Lock(dir)
	if err != nil {
		return cli.Exit(fmt.Sprintf("%s: %v", dir, err), exitFailure)
	}
	removed := []string{}
	if isOurLauncher(st.Launcher) {
		if err := os.Remove(st.Launcher); err == nil {
			removed = append(removed, st.Launcher)
		}
	}
	for _, what := range []string{"update", "old"} { // an unfinished --update
		sib := filepath.Join(filepath.Dir(abs), "."+filepath.Base(abs)+".rootfs-pull-"+what)
		if _, err := os.Lstat(sib); err == nil && len(mountsUnder(sib)) == 0 && pull.RemoveTree(sib) == nil {
			removed = append(removed, sib)
		}
	}
	unlock()
	if err := pull.RemoveTree(abs); err != nil {
		return cli.Exit(fmt.Sprintf("remove %s: %v", dir, err), exitFailure)
	}
	removed = append([]string{abs}, removed...)
	if c.Bool("json") {
		writeJSON(stdout, map[string]any{"removed": removed})
		return nil
	}
	fmt.Fprintf(stdout, "Removed %s\n", strings.Join(removed, ", "))
	return nil
}

// isOurLauncher: p is a launcher rootfs-pull wrote (never delete a file
// the user put in its place).
func isOurLauncher(p string) bool {
	if p == "" {
		return false
	}
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 4096)
	n, _ := io.ReadFull(f, head)
	return bytes.Contains(head[:n], []byte("Written by rootfs-pull"))
}

// mountsUnder lists the mount points at or below dir.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
