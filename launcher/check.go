package launcher

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ErrBadConfig: the image's config holds a value the launcher will not put
// on a command line (it could name a host program or inject an option).
var ErrBadConfig = errors.New("unusable image config")

// ErrDashCommand: the container's program (the command's first word)
// starts with "-". proot has no "--" to end its options: it reads such a
// command, and the words after it, as its own options ("-r / /bin/sh"
// makes the host's / the container's root and runs the host's sh on the
// host's files; "-q PROG" runs a host program). chroot and ruri are held
// to the same rule, so that a command means the same under each.
var ErrDashCommand = errors.New("the program to run starts with - (proot, chroot and ruri would read it as their own option): name it by its path")

// checkProgram refuses a command whose first word starts with "-"; what
// says where the command comes from, for the message.
func checkProgram(what string, command []string) error {
	if len(command) > 0 && strings.HasPrefix(command[0], "-") {
		return fmt.Errorf("%s %s: %w", what, Printable(command[0], 60), ErrDashCommand)
	}
	return nil
}

// qemuNames maps the architectures this tool knows (OCI's names, and the
// kernel's that some images use) to qemu-user's binary suffix. Only these
// ever name a qemu binary or reach ruri's -a.
var qemuNames = map[string]string{
	"amd64": "x86_64", "x86_64": "x86_64",
	"arm64": "aarch64", "aarch64": "aarch64",
	"386": "i386", "i386": "i386",
	"arm": "arm", "riscv64": "riscv64", "ppc64le": "ppc64le", "ppc64": "ppc64",
	"s390x": "s390x", "mips64le": "mips64el", "mips64": "mips64",
	"mipsle": "mipsel", "mips": "mips", "loong64": "loongarch64",
}

// KnownArchs lists, sorted, the architectures an image may name.
func KnownArchs() []string {
	var out []string
	for a := range qemuNames {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// validVariant: "v5", "v7", "v8", "v8.2", "v9.1" … (ARM's and amd64's).
func validVariant(v string) bool {
	if v == "" {
		return true
	}
	if len(v) < 2 || v[0] != 'v' || v[1] < '1' || v[1] > '9' {
		return false
	}
	rest := v[2:]
	if rest == "" {
		return true
	}
	return len(rest) == 2 && rest[0] == '.' && '0' <= rest[1] && rest[1] <= '9'
}

// validOS: a lower-case word ("linux"), or nothing.
func validOS(os string) bool {
	if len(os) > 16 {
		return false
	}
	return strings.Trim(os, "abcdefghijklmnopqrstuvwxyz0123456789") == ""
}

// maxID is the largest user or group id a spec may name (2^32-2; -1 is
// "unchanged" to the kernel).
const maxID = 1<<32 - 2

// parseID reads a decimal user or group id: digits only (no sign, no
// spaces), at most maxID.
func parseID(s string) (int, bool) {
	if s == "" || len(s) > 10 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > maxID {
		return 0, false
	}
	return int(n), true
}

// validUserName: a name passwd can hold and no program reads as an
// option: [A-Za-z_][A-Za-z0-9_.-]*, an optional trailing $ (Samba's
// machine accounts), at most 256 bytes.
func validUserName(s string) bool {
	s = strings.TrimSuffix(s, "$")
	if s == "" || len(s) > 256 {
		return false
	}
	c := s[0]
	if !(c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == ""
}

// validUserSpec: "", NAME or UID, optionally followed by :GROUP or :GID.
func validUserSpec(spec string) bool {
	if spec == "" {
		return true
	}
	user, group, hasGroup := strings.Cut(spec, ":")
	ok := func(s string) bool {
		_, isID := parseID(s)
		return isID || validUserName(s)
	}
	return ok(user) && (!hasGroup || ok(group))
}

// CheckImage checks what of the image's config the launcher puts on
// command lines, before anything is pulled: the architecture and variant
// (they name qemu-ARCH-static and go to ruri's -a) must be known ones, the
// OS a plain word, User a NAME/UID[:GROUP/GID], no NUL byte in
// Entrypoint, Cmd or WorkingDir (no program can receive one), and the
// program to run (Entrypoint's first word, else Cmd's) must not start with
// "-" (ErrDashCommand). Env entries are not refused here: NewConfig drops
// the bad ones (see env.go).
func CheckImage(img ocispec.Image) error {
	bad := func(what, v, want string) error {
		return fmt.Errorf("%w: %s %s %s", ErrBadConfig, what, Printable(v, 60), want)
	}
	if _, ok := qemuNames[img.Architecture]; !ok && img.Architecture != "" {
		return bad("architecture", img.Architecture, "is not one this tool knows ("+strings.Join(KnownArchs(), ", ")+")")
	}
	if !validVariant(img.Variant) {
		return bad("variant", img.Variant, "is not one this tool knows (v5, v6, v7, v8, v8.1 …)")
	}
	if !validOS(img.OS) {
		return bad("os", img.OS, "is not an operating system's name")
	}
	c := img.Config
	if !validUserSpec(c.User) {
		return bad("User", c.User, "is not NAME, UID, NAME:GROUP or UID:GID")
	}
	if strings.ContainsRune(c.WorkingDir, 0) {
		return bad("WorkingDir", c.WorkingDir, "holds a NUL byte")
	}
	for _, a := range append(slices.Clone(c.Entrypoint), c.Cmd...) {
		if strings.ContainsRune(a, 0) {
			return bad("command word", a, "holds a NUL byte")
		}
	}
	what, command := "Entrypoint", c.Entrypoint
	if len(command) == 0 {
		what, command = "Cmd", c.Cmd
	}
	if err := checkProgram("the image's "+what, command); err != nil {
		return fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	return nil
}
