package androidsim

import (
	"bufio"
	"embed"
	"fmt"
	"sort"
	"strings"
)

// bionicFiles are bionic's seccomp data, verbatim (see bionic/NOTICE).
//
//go:embed bionic/*.TXT
var bionicFiles embed.FS

// bionicArches are the architectures bionic's files name; "lp32" and
// "lp64" stand for the 32- and 64-bit ones.
var bionicArches = map[string]bool{"arm": false, "x86": false, "arm64": true, "x86_64": true, "riscv64": true}

// entry is one line of a bionic syscall file: the kernel's name for the
// syscall and the architectures it is listed for.
type entry struct {
	name   string
	arches map[string]bool
	line   int
}

// parseSyscalls reads a file in SYSCALLS.TXT's format, as bionic's
// gensyscalls.py does:
//
//	[return_type] func[|aliases][:syscall_name[:socketcall_id]](params) arch_list
//
// The syscall is syscall_name when given, else func (without aliases).
// arch_list is "all" or a comma-separated list of arch names, lp32, lp64.
func parseSyscalls(file, text string) ([]entry, error) {
	var out []entry
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		bad := func(why string) error { return fmt.Errorf("%s:%d: %s: %q", file, n, why, line) }
		l, r := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
		if l < 0 || r < l {
			return nil, bad("no (parameter list)")
		}
		head := strings.Fields(line[:l])
		if len(head) == 0 {
			return nil, bad("no function name")
		}
		spec := head[len(head)-1] // what precedes it is the return type, if any
		name := spec
		if i := strings.IndexByte(spec, ':'); i >= 0 {
			name = spec[i+1:]
			if j := strings.IndexByte(name, ':'); j >= 0 {
				name = name[:j] // x86's socketcall id
			}
		}
		if i := strings.IndexByte(name, '|'); i >= 0 {
			name = name[:i] // aliases of the function, not syscalls
		}
		if name == "" {
			return nil, bad("empty syscall name")
		}
		e := entry{name: name, arches: map[string]bool{}, line: n}
		list := strings.TrimSpace(line[r+1:])
		for _, a := range strings.Split(list, ",") {
			switch a = strings.TrimSpace(a); a {
			case "all":
				for arch := range bionicArches {
					e.arches[arch] = true
				}
			case "lp32", "lp64":
				for arch, lp64 := range bionicArches {
					if lp64 == (a == "lp64") {
						e.arches[arch] = true
					}
				}
			default:
				if _, ok := bionicArches[a]; !ok {
					return nil, bad(fmt.Sprintf("unknown architecture %q", a))
				}
				e.arches[a] = true
			}
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// namesFor returns the syscall names the files list for arch.
func namesFor(arch string, files ...string) (map[string]bool, error) {
	names := map[string]bool{}
	for _, f := range files {
		text, err := bionicFiles.ReadFile("bionic/" + f)
		if err != nil {
			return nil, err
		}
		entries, err := parseSyscalls(f, string(text))
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.arches[arch] {
				names[e.name] = true
			}
		}
	}
	return names, nil
}

// AppAllowlist returns the syscalls Android lets an app make on arch (a
// bionic architecture name), sorted: as bionic's genseccomp.py computes
// it, SYSCALLS.TXT minus the common and app blocklists, plus the common
// and app allowlists. It fails where the files do not fit together as
// genseccomp requires: a blocked name missing from SYSCALLS.TXT, or a
// name both allowed and blocked.
func AppAllowlist(arch string) ([]string, error) {
	if _, ok := bionicArches[arch]; !ok {
		return nil, fmt.Errorf("androidsim: bionic has no architecture %q", arch)
	}
	base, err := namesFor(arch, "SYSCALLS.TXT")
	if err != nil {
		return nil, err
	}
	allow, err := namesFor(arch, "SECCOMP_ALLOWLIST_COMMON.TXT", "SECCOMP_ALLOWLIST_APP.TXT")
	if err != nil {
		return nil, err
	}
	block, err := namesFor(arch, "SECCOMP_BLOCKLIST_COMMON.TXT", "SECCOMP_BLOCKLIST_APP.TXT")
	if err != nil {
		return nil, err
	}
	var missing, both []string
	for n := range block {
		if !base[n] {
			missing = append(missing, n)
		}
		if allow[n] {
			both = append(both, n)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("androidsim: %s: blocklisted but not in SYSCALLS.TXT: %s", arch, strings.Join(missing, ", "))
	}
	if len(both) > 0 {
		sort.Strings(both)
		return nil, fmt.Errorf("androidsim: %s: both allowlisted and blocklisted: %s", arch, strings.Join(both, ", "))
	}
	var out []string
	for n := range base {
		if !block[n] {
			out = append(out, n)
		}
	}
	for n := range allow {
		if !base[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// priorities are the syscalls genseccomp checks first (SECCOMP_PRIORITY.TXT),
// in order.
func priorities() ([]string, error) {
	text, err := bionicFiles.ReadFile("bionic/SECCOMP_PRIORITY.TXT")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(string(text), "\n") {
		if l = strings.TrimSpace(l); l != "" && l[0] != '#' {
			out = append(out, l)
		}
	}
	return out, nil
}
