// Package launcher starts a rootfs the way `docker run` starts its image:
// Entrypoint + Cmd, the image's Env, WorkingDir and User, under proot
// (no root: Termux), chroot or ruri (root). It writes a standalone POSIX
// sh script beside the rootfs (start-NAME.sh) and builds the raw runtime
// command lines the pull prints.
package launcher

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Runtimes a launcher can use. Auto picks chroot (ruri when installed) for
// root and proot otherwise, when the container starts.
const (
	Proot  = "proot"
	Chroot = "chroot"
	Ruri   = "ruri"
	Auto   = "auto"
)

// DefaultPath is Docker's PATH for an image that sets none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Config is what starting a container needs, from the image config and
// the rootfs.
type Config struct {
	Image      string // the image's name, for messages
	Digest     string
	Platform   string // the image's os/arch[/variant]
	Entrypoint []string
	Cmd        []string
	Env        []string // NAME=VALUE, the image's with PATH and HOME filled in
	// DroppedEnv are the image's Env entries left out: not NAME=VALUE with
	// a portable name (see env.go). DroppedEnvWarning says so in a line.
	DroppedEnv []string
	WorkingDir string // absolute, "/" by default
	User       User
	// UserHome: Env's HOME is User's home, filled in because the image
	// sets none; a launcher's -u/--user sets its user's instead.
	UserHome bool
	Runtime  string // Proot, Chroot, Ruri or Auto
	// QemuArch is qemu's name for the image's architecture ("aarch64")
	// when it differs from the host's; empty when it runs natively.
	QemuArch string
}

// NewConfig reads the image config img of the rootfs at dir into a Config.
// host is the machine's architecture in OCI terms (runtime.GOARCH).
// The config is checked first (CheckImage); bad Env entries are dropped
// into DroppedEnv. WorkingDir is made absolute ("-w /" becomes "/-w /"),
// so it can never be read as an option.
func NewConfig(dir string, img ocispec.Image, hostArch, runtime string) (Config, error) {
	if err := CheckImage(img); err != nil {
		return Config{}, err
	}
	c := img.Config
	u, err := ResolveUser(dir, c.User)
	if err != nil {
		return Config{}, err
	}
	cfg := Config{
		Entrypoint: c.Entrypoint,
		Cmd:        c.Cmd,
		WorkingDir: c.WorkingDir,
		User:       u,
		Runtime:    runtime,
	}
	if cfg.WorkingDir == "" || !strings.HasPrefix(cfg.WorkingDir, "/") {
		cfg.WorkingDir = "/" + strings.TrimPrefix(cfg.WorkingDir, "./")
	}
	if cfg.Runtime == "" {
		cfg.Runtime = Auto
	}
	env, dropped := splitEnv(c.Env)
	cfg.Env, cfg.DroppedEnv = guestEnv(env, u), dropped
	cfg.UserHome = !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "HOME=") })
	cfg.Platform = img.OS + "/" + img.Architecture
	if img.Variant != "" {
		cfg.Platform += "/" + img.Variant
	}
	arch := img.Architecture
	switch arch { // the kernel's names some images use
	case "x86_64":
		arch = "amd64"
	case "aarch64":
		arch = "arm64"
	case "i386":
		arch = "386"
	}
	if arch != "" && arch != hostArch && !compatible(hostArch, arch) {
		cfg.QemuArch = QemuArch(arch)
	}
	return cfg, nil
}

// guestEnv is the environment docker run gives a container: the image's
// Env, PATH if the image sets none, HOME of the user if unset.
func guestEnv(env []string, u User) []string {
	out := slices.Clone(env)
	has := func(name string) bool {
		return slices.ContainsFunc(out, func(kv string) bool { return strings.HasPrefix(kv, name+"=") })
	}
	if !has("PATH") {
		out = append([]string{"PATH=" + DefaultPath}, out...)
	}
	if !has("HOME") {
		out = append(out, "HOME="+u.Home)
	}
	return out
}

// compatible: the host runs the image's code natively.
func compatible(host, image string) bool {
	return host == "amd64" && image == "386" || host == "arm64" && image == "arm"
}

// QemuArch maps an OCI architecture to the suffix of qemu-user's binary
// names (qemu-aarch64-static); "" for an architecture this tool does not
// know (CheckImage refuses those).
func QemuArch(arch string) string { return qemuNames[arch] }

// FindQemu finds qemu-user for arch (qemu-ARCH-static, then qemu-ARCH) in
// PATH. Without one it returns the static name and false. arch must be
// one of QemuArch's answers; any other finds nothing.
func FindQemu(arch string) (string, bool) {
	if !knownQemu(arch) {
		return "qemu-" + strings.Map(func(r rune) rune {
			if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '_' {
				return r
			}
			return '_'
		}, arch) + "-static", false
	}
	for _, name := range []string{"qemu-" + arch + "-static", "qemu-" + arch} {
		if p, err := lookPath(name); err == nil {
			return p, true
		}
	}
	return "qemu-" + arch + "-static", false
}

// knownQemu: arch is one of QemuArch's answers.
func knownQemu(arch string) bool {
	for _, q := range qemuNames {
		if q == arch {
			return true
		}
	}
	return false
}

// lookPath is findProgram (tests replace it).
var lookPath = findProgram

// hostPath is the absolute path of the host program name: where PATH has
// it, else where it would be installed (Termux's $PREFIX/bin, else /usr/bin
// or, for chroot, /usr/sbin). A printed command never names a runtime by a
// bare name: `env -i PATH=… proot` looks proot up in the PATH it was just
// given, the image's, which could lead to a program the image planted.
func hostPath(name string) string {
	if p, err := lookPath(name); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	if prefix := os.Getenv("PREFIX"); filepath.IsAbs(prefix) {
		if fi, err := os.Stat(filepath.Join(prefix, "bin")); err == nil && fi.IsDir() {
			return filepath.Join(prefix, "bin", name)
		}
	}
	if name == Chroot {
		return "/usr/sbin/chroot"
	}
	return "/usr/bin/" + name
}

// DefaultName is the launcher's file name for a rootfs directory:
// ./ubuntu → ./start-ubuntu.sh, beside it.
func DefaultName(dir string) string {
	clean := filepath.Clean(dir)
	return filepath.Join(filepath.Dir(clean), "start-"+filepath.Base(clean)+".sh")
}

// rootfsVar stands for the rootfs directory in a command line: the script
// writes "$rootfs", a printed command the absolute path. The script's
// other run-time values are marked the same way: workdirVar ("$workdir",
// -w/--workdir), homeVar ("$home", the -u/--user's home) and userVar (the
// user's words, which -u/--user chooses).
const (
	rootfsVar  = "\x00rootfs\x00"
	workdirVar = "\x00workdir\x00"
	homeVar    = "\x00home\x00"
	userVar    = "\x00user\x00"
)

// argv builds the runtime's fixed command line for cfg, up to (not
// including) the container's command. Both the script and Command use it,
// so what is printed is what runs.
func (cfg Config) argv(runtime string) []string {
	return cfg.argvWith(runtime, userWords(runtime, cfg.User), cfg.env())
}

// scriptArgv is argv with the values the launcher's options may change
// left as markers (see rootfsVar).
func (cfg Config) scriptArgv(runtime string) []string {
	c := cfg
	c.WorkingDir = workdirVar
	env := cfg.env()
	if cfg.UserHome {
		env = slices.Clone(env)
		for i, kv := range env {
			if strings.HasPrefix(kv, "HOME=") {
				env[i] = "HOME=" + homeVar
			}
		}
	}
	return c.argvWith(runtime, []string{userVar}, env)
}

// userWords are the runtime's options that make u the container's user.
func userWords(runtime string, u User) []string {
	switch runtime {
	case Proot:
		if u.UID == 0 {
			return []string{"-0"}
		}
		return []string{"-i", fmt.Sprintf("%d:%d", u.UID, u.GID)}
	case Chroot:
		if u.UID == 0 && u.GID == 0 {
			return nil
		}
		// +ID: GNU chroot looks a bare number up as a NAME first, in the
		// rootfs's passwd and group (an image's user named 1000 may have
		// uid 0).
		groups := []string{"+" + strconv.Itoa(u.GID)}
		for _, g := range u.Groups {
			groups = append(groups, "+"+strconv.Itoa(g))
		}
		return []string{fmt.Sprintf("--userspec=+%d:+%d", u.UID, u.GID), "--groups=" + strings.Join(groups, ",")}
	case Ruri:
		if u.UID == 0 {
			return nil
		}
		return []string{"-E", strconv.Itoa(u.UID)}
	}
	return nil
}

func (cfg Config) argvWith(runtime string, user, env []string) []string {
	switch runtime {
	case Proot:
		a := append([]string{"proot"}, user...)
		a = append(a, "-r", rootfsVar,
			"-b", "/dev", "-b", "/proc", "-b", "/sys",
			"-b", "/dev/urandom:/dev/random",
			"-b", "/proc/self/fd:/dev/fd",
			"-w", cfg.WorkingDir)
		return a // the /dev/shm bind follows, when the rootfs's /tmp is a real directory
	case Chroot:
		a := append([]string{"chroot"}, user...)
		return append(a, rootfsVar)
	case Ruri:
		// -N: ruri neither writes nor trusts DIR/.rurienv, a file the
		// container itself can write (ruri -U would remove the paths it
		// names, on the host).
		a := []string{"ruri", "-N", "-W", cfg.WorkingDir}
		for _, kv := range env {
			name, value, _ := strings.Cut(kv, "=")
			a = append(a, "-e", name, value)
		}
		return append(a, user...) // the rootfs goes last, after options added at run time
	}
	return nil
}

// Command is the raw runtime command line that starts the container in
// dir with args (nil: the image's Entrypoint + Cmd), for users who run
// proot, chroot or ruri themselves. The launcher script adds what depends
// on the moment (TERM, QEMU, fake /proc files, mounts for chroot).
// A command whose program starts with "-" is refused (ErrDashCommand):
// proot would read it as its own options.
func Command(runtime, dir string, cfg Config, args []string) ([]string, error) {
	return command(runtime, dir, cfg, nil, args)
}

// command is Command with extra runtime options (binds, -k …) after the
// fixed ones.
func command(runtime, dir string, cfg Config, extra, args []string) ([]string, error) {
	cmd := cfg.command(args)
	if err := checkProgram("the command", cmd); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	var out []string
	runtimeEnv, guest := splitHost(cfg.env())
	if runtime != Ruri { // ruri clears the environment itself
		// "--": no entry can be an option of env's.
		out = append(append([]string{"env", "-i", "--"}, runtimeEnv...), hostPath(runtime))
	}
	for _, w := range cfg.argv(runtime)[1:] {
		out = append(out, strings.ReplaceAll(w, rootfsVar, abs))
	}
	if runtime == Ruri {
		out = append([]string{"ruri"}, out...)
	}
	if runtime == Proot {
		// The rootfs's /tmp as /dev/shm, unless it is now something else
		// (a symlink would bind the host directory it names).
		// proot splits a bind at its first ':': with one in the rootfs's
		// path it would bind another directory.
		if fi, err := os.Lstat(filepath.Join(abs, "tmp")); (err != nil || fi.IsDir()) && !strings.Contains(abs, ":") {
			out = append(out, "-b", abs+"/tmp:/dev/shm")
		}
	}
	if arch := cfg.QemuArch; knownQemu(arch) {
		q, found := FindQemu(arch)
		if !found {
			q = hostPath(q) // proot would search the image's PATH
		}
		switch runtime {
		case Proot:
			out = append(out, "-q", q)
		case Ruri:
			out = append(out, "-a", cfg.QemuArch, "-q", q)
		}
	}
	out = append(out, extra...)
	if runtime == Ruri {
		out = append(out, abs)
	}
	if runtime != Ruri && len(guest) > 0 {
		// Variables that would act on proot or chroot (LD_PRELOAD …) are
		// set by the container's own shell, inside.
		pre := append([]string{"/bin/sh", "-c", guestEnvProg, "sh"}, guest...)
		cmd = append(append(pre, "--"), cmd...)
	}
	if runtime == Chroot && cfg.WorkingDir != "/" {
		cmd = append([]string{"/bin/sh", "-c", `cd "$0" && exec "$@"`, cfg.WorkingDir}, cmd...)
	}
	return append(out, cmd...), nil
}

// env is the container's environment: Env's valid entries (a Config made
// by hand may hold any).
func (cfg Config) env() []string {
	valid, _ := splitEnv(cfg.Env)
	return valid
}

// command is what runs in the container: Entrypoint + args, or Entrypoint
// + Cmd, or /bin/sh when the image names nothing.
func (cfg Config) command(args []string) []string {
	if args == nil {
		args = cfg.Cmd
	}
	c := append(slices.Clone(cfg.Entrypoint), args...)
	if len(c) == 0 {
		return []string{"/bin/sh"}
	}
	return c
}

// HasCommand reports whether the image names a command.
func (cfg Config) HasCommand() bool { return len(cfg.Entrypoint)+len(cfg.Cmd) > 0 }

// DefaultCommand is what docker run IMAGE runs: Entrypoint + Cmd, or
// /bin/sh when the image names neither.
func (cfg Config) DefaultCommand() []string { return cfg.command(nil) }

// Effective is the runtime a launcher picks now: runtime unless Auto;
// for Auto, ruri (when installed) or chroot for root, proot otherwise.
func Effective(runtime string, asRoot bool) string {
	if runtime != Auto && runtime != "" {
		return runtime
	}
	if !asRoot {
		return Proot
	}
	if _, err := findProgram("ruri"); err == nil {
		return Ruri
	}
	return Chroot
}

// ParseRuntime checks a --runtime value.
func ParseRuntime(s string) (string, error) {
	switch s {
	case "", Auto:
		return Auto, nil
	case Proot, Chroot, Ruri:
		return s, nil
	}
	return "", fmt.Errorf("runtime %q: want proot, chroot, ruri or auto", s)
}

// Write writes the launcher script for the rootfs dir to path (mode 0755,
// atomically: a running launcher is never half rewritten).
func Write(path, dir string, cfg Config) error {
	script, err := Script(path, dir, cfg)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write launcher: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(script); err != nil {
		tmp.Close()
		return fmt.Errorf("write launcher: %w", err)
	}
	if err := tmp.Chmod(0755); err != nil {
		tmp.Close()
		return fmt.Errorf("write launcher: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write launcher: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write launcher: %w", err)
	}
	return nil
}
