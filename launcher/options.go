package launcher

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
)

// Options are the launcher's options (its own flags, or its defaults
// file's), read by rootfs-pull to print the runtime command line they
// make (start-command). The launcher itself parses them in sh; this
// parser accepts the same words and checks the same rules.
type Options struct {
	Env           []string // -e NAME=VALUE
	Volumes       []Volume // -v
	User          string   // -u NAME|UID[:GROUP|GID]
	Workdir       string   // -w
	Entrypoint    *string  // --entrypoint
	Hostname      string   // --hostname
	KernelRelease string   // --kernel-release
	FixLowPorts   bool     // -p
	// LauncherOnly are the options only the launcher carries out (it
	// reads files, or looks at the host, when it starts): --env-file,
	// --shared-*, --bind-storage, --isolated, --no-*.
	LauncherOnly []string
}

// Volume is a -v HOST[:CONTAINER][:ro].
type Volume struct {
	Host, Container string
	ReadOnly        bool
}

// ErrOption: a launcher option or its value is bad.
var ErrOption = errors.New("bad launcher option")

// ParseOptions reads launcher options from words up to the first word
// that is not one (or after "--"); it returns the rest.
func ParseOptions(words []string) (Options, []string, error) {
	var o Options
	bad := func(format string, a ...any) (Options, []string, error) {
		return Options{}, nil, fmt.Errorf("%w: "+format, append([]any{ErrOption}, a...)...)
	}
	for len(words) > 0 {
		w := words[0]
		if name, value, ok := strings.Cut(w, "="); ok && strings.HasPrefix(w, "--") {
			words = append([]string{name, value}, words[1:]...)
			w = name
		}
		value := ""
		switch {
		case takesValue(w):
			if len(words) < 2 {
				return bad("%s needs a value", w)
			}
			value = words[1]
			words = words[2:]
		default:
			words = words[1:]
		}
		switch w {
		case "-e", "--env":
			if !ValidEnv(value) {
				return bad("%s %s: want NAME=VALUE with a NAME of letters, digits and _ (not starting with a digit)", w, Printable(value, 60))
			}
			o.Env = append(o.Env, value)
		case "--entrypoint":
			o.Entrypoint = &value
		case "-v", "--volume":
			v, err := parseVolume(value)
			if err != nil {
				return bad("%s %s: %v", w, Printable(value, 60), err)
			}
			o.Volumes = append(o.Volumes, v)
		case "-u", "--user":
			if !validUserSpec(value) || value == "" {
				return bad("%s %s: want NAME, UID, NAME:GROUP or UID:GID", w, Printable(value, 60))
			}
			o.User = value
		case "-w", "--workdir":
			if !strings.HasPrefix(value, "/") {
				return bad("%s %s: want an absolute path", w, Printable(value, 60))
			}
			o.Workdir = value
		case "--hostname":
			if !validName(value, ".-") {
				return bad("%s %s: want a host name (letters, digits, . and -, not starting with - or .)", w, Printable(value, 70))
			}
			o.Hostname = value
		case "--kernel-release":
			if !validName(value, ".+_-") {
				return bad("%s %s: want a release like 6.1.0 (letters, digits, . + _ -)", w, Printable(value, 70))
			}
			o.KernelRelease = value
		case "-p", "--fix-low-ports":
			o.FixLowPorts = true
		case "--env-file":
			o.LauncherOnly = append(o.LauncherOnly, w, value)
		case "--bind-storage", "--shared-tmp", "--shared-home", "--shared-x11", "--isolated", "--no-link2symlink", "--no-sysvipc", "--no-kill-on-exit":
			o.LauncherOnly = append(o.LauncherOnly, w)
		case "--":
			return o, words, nil
		default:
			if strings.HasPrefix(w, "-") {
				return bad("unknown option %s", Printable(w, 60))
			}
			return o, append([]string{w}, words...), nil
		}
	}
	return o, words, nil
}

// validName: 1 to 64 letters, digits and the extra characters, starting
// with a letter or digit.
func validName(s, extra string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	return strings.ContainsRune(alnum, rune(s[0])) && strings.Trim(s, alnum+extra) == ""
}

// parseVolume reads HOST[:CONTAINER][:ro|rw] as the launcher does: HOST
// must exist (relative to the working directory), CONTAINER be absolute,
// without "..", and not "/".
func parseVolume(spec string) (Volume, error) {
	parts := strings.Split(spec, ":")
	if len(parts) > 3 {
		return Volume{}, errors.New("want HOST[:CONTAINER][:ro] (no : in the paths)")
	}
	v := Volume{Host: parts[0]}
	mode := "rw"
	switch {
	case len(parts) == 3:
		v.Container, mode = parts[1], parts[2]
	case len(parts) == 2 && (parts[1] == "ro" || parts[1] == "rw"):
		mode = parts[1]
	case len(parts) == 2:
		v.Container = parts[1]
	}
	if mode != "ro" && mode != "rw" {
		return Volume{}, errors.New("the last part must be ro or rw")
	}
	v.ReadOnly = mode == "ro"
	if v.Host == "" {
		return Volume{}, errors.New("HOST is empty")
	}
	if _, err := os.Stat(v.Host); err != nil {
		return Volume{}, fmt.Errorf("%s does not exist on the host", v.Host)
	}
	if !strings.HasPrefix(v.Host, "/") {
		wd, err := os.Getwd()
		if err != nil {
			return Volume{}, err
		}
		v.Host = wd + "/" + v.Host
	}
	if v.Container == "" {
		v.Container = v.Host
	}
	if !strings.HasPrefix(v.Container, "/") {
		return Volume{}, errors.New("CONTAINER must be an absolute path")
	}
	if slices.Contains(strings.Split(v.Container, "/"), "..") {
		return Volume{}, errors.New("CONTAINER must not hold ..")
	}
	if v.Container = path.Clean(v.Container); v.Container == "/" {
		return Volume{}, errors.New("CONTAINER cannot be /")
	}
	return v, nil
}

// CommandWith is Command with the launcher's options o applied where a
// raw command line can carry them: -e, -u, -w and --entrypoint on every
// runtime; volumes as proot's -b and ruri's -m/-M; --hostname and
// --kernel-release as proot's -k (ruri: -u -t for the host name); -p as
// proot's -p. It returns, beside the line, the options it could not carry
// (the launcher does those: chroot's mounts and UTS namespace, what reads
// the host when it starts), and refuses what the runtime cannot do at all,
// as the launcher does.
func CommandWith(runtime, dir string, cfg Config, o Options, args []string) ([]string, []string, error) {
	if o.User != "" {
		u, err := ResolveUser(dir, o.User)
		if err != nil {
			return nil, nil, err
		}
		cfg.User = u
		if cfg.UserHome {
			cfg.Env = slices.Clone(cfg.Env)
			for i, kv := range cfg.Env {
				if strings.HasPrefix(kv, "HOME=") {
					cfg.Env[i] = "HOME=" + u.Home
				}
			}
		}
	}
	if o.Workdir != "" {
		cfg.WorkingDir = o.Workdir
	}
	if o.Entrypoint != nil {
		cfg.Entrypoint, cfg.Cmd = []string{*o.Entrypoint}, nil
	}
	cfg.Env = append(slices.Clone(cfg.Env), o.Env...)
	left := slices.Clone(o.LauncherOnly)
	var extra []string
	switch runtime {
	case Proot:
		if o.FixLowPorts {
			extra = append(extra, "-p")
		}
		switch {
		case o.Hostname != "":
			release, version, machine := hostUname()
			if o.KernelRelease != "" {
				release = o.KernelRelease
			}
			if cfg.QemuArch != "" {
				machine = unameMachine(cfg.QemuArch)
			}
			extra = append(extra, "-k", `\Linux\`+o.Hostname+`\`+release+`\`+version+`\`+machine+`\(none)\-1\`)
		case o.KernelRelease != "":
			extra = append(extra, "-k", o.KernelRelease)
		}
		for _, v := range o.Volumes {
			if v.ReadOnly {
				return nil, nil, fmt.Errorf("%w: -v %s:%s:ro: proot cannot bind read-only (chroot and ruri can, as root)", ErrOption, v.Host, v.Container)
			}
			if strings.Contains(v.Host, ":") {
				return nil, nil, fmt.Errorf("%w: -v %s: proot reads the ':' in it as HOST:GUEST's separator (use a path without one)", ErrOption, v.Host)
			}
			extra = append(extra, "-b", v.Host+":"+v.Container)
		}
	case Chroot, Ruri:
		if o.KernelRelease != "" {
			return nil, nil, fmt.Errorf("%w: --kernel-release: %s shows the host's kernel; only proot can fake it", ErrOption, runtime)
		}
		if o.FixLowPorts {
			return nil, nil, fmt.Errorf("%w: -p: only proot moves ports; under %s the container runs as root, where every port binds", ErrOption, runtime)
		}
		if runtime == Chroot {
			for _, v := range o.Volumes {
				left = append(left, "-v", v.Host+":"+v.Container+map[bool]string{true: ":ro"}[v.ReadOnly])
			}
			if o.Hostname != "" {
				left = append(left, "--hostname", o.Hostname)
			}
			break
		}
		if strings.Contains(o.User, ":") {
			return nil, nil, fmt.Errorf("%w: -u %s: ruri sets only the user (its group comes from the image's /etc/passwd)", ErrOption, o.User)
		}
		for _, v := range o.Volumes {
			// ruri mounts at ROOTFS/CONTAINER on the host, following what
			// is there: the image's /src -> /etc would be the host's /etc.
			if err := noSymlinkIn(dir, v.Container); err != nil {
				return nil, nil, fmt.Errorf("%w: -v %s:%s: %v", ErrOption, v.Host, v.Container, err)
			}
			flag := "-m"
			if v.ReadOnly {
				flag = "-M"
			}
			extra = append(extra, flag, v.Host, v.Container)
		}
		if o.Hostname != "" {
			extra = append(extra, "-u", "-t", o.Hostname)
		}
	}
	line, err := command(runtime, dir, cfg, extra, args)
	return line, left, err
}

// noSymlinkIn: no component of the absolute, clean path c, inside the
// rootfs at dir, is a symlink (as the launcher checks a -v CONTAINER);
// the components that do not exist yet are fine.
func noSymlinkIn(dir, c string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	p := ""
	for _, comp := range strings.Split(strings.TrimPrefix(c, "/"), "/") {
		p = path.Join(p, comp)
		fi, err := root.Lstat(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("/%s in the rootfs: %v", p, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%s is a symlink in the rootfs: refusing to follow it (name the path it leads to)", Printable("/"+p, 60))
		}
	}
	return nil
}

// unameMachine is uname -m for an image run through qemu-ARCH.
func unameMachine(qemuArch string) string {
	switch qemuArch {
	case "i386":
		return "i686"
	case "arm":
		return "armv7l"
	}
	return qemuArch
}

// hostUname is the host's uname -r, -v and -m (backslashes, which proot's
// -k reads as separators, made blanks).
func hostUname() (release, version, machine string) {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return DefaultKernelRelease, "#1 SMP", "unknown"
	}
	return utsString(u.Release[:]), utsString(u.Version[:]), utsString(u.Machine[:])
}

// utsString reads a NUL-ended uname field (int8 or uint8, by platform).
func utsString[T int8 | uint8](f []T) string {
	var b []byte
	for _, c := range f {
		if c == 0 {
			break
		}
		if byte(c) == '\\' {
			c = ' '
		}
		b = append(b, byte(c))
	}
	return string(b)
}
