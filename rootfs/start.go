package rootfs

import (
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// DefaultCommand is what `docker run IMAGE` runs: Entrypoint + Cmd, or
// /bin/sh when the image names neither.
func DefaultCommand(cfg ocispec.ImageConfig) []string {
	args := append(append([]string{}, cfg.Entrypoint...), cfg.Cmd...)
	if len(args) == 0 {
		return []string{"/bin/sh"}
	}
	return args
}

// StartCommand is a command line that runs the image's default command in
// dir: chroot for root, proot (fake root, the host's /dev, /proc and /sys)
// otherwise.
func StartCommand(dir string, cfg ocispec.ImageConfig, asRoot bool) []string {
	wd := cfg.WorkingDir
	if wd == "" {
		wd = "/"
	}
	if asRoot {
		return append([]string{"chroot", dir}, DefaultCommand(cfg)...)
	}
	cmd := []string{"proot", "--link2symlink", "--kill-on-exit", "-0", "-r", dir,
		"-b", "/dev", "-b", "/proc", "-b", "/sys", "-w", wd}
	return append(cmd, DefaultCommand(cfg)...)
}

// ShellQuote joins args into one line a POSIX shell reads back as args.
func ShellQuote(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%") == "" {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}
