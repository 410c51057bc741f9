package androidsim

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseSyscalls(t *testing.T) {
	all := []string{"arm", "arm64", "riscv64", "x86", "x86_64"}
	for _, c := range []struct {
		line   string
		name   string
		arches []string
		err    string
	}{
		{line: "int read(int, void*, size_t) all", name: "read", arches: all},
		{line: "read(int, void*, size_t)  all", name: "read", arches: all}, // no return type (newer files)
		{line: "int\topen(const char*, int, ...)  arm,x86,x86_64", name: "open", arches: []string{"arm", "x86", "x86_64"}},
		{line: "uid_t getuid:getuid32()   lp32", name: "getuid32", arches: []string{"arm", "x86"}},
		{line: "uid_t getuid:getuid()     lp64", name: "getuid", arches: []string{"arm64", "riscv64", "x86_64"}},
		{line: "int fstatat64|fstatat:newfstatat(int, const char*, struct stat*, int)  lp64", name: "newfstatat", arches: []string{"arm64", "riscv64", "x86_64"}},
		{line: "off_t lseek|lseek64(int, off_t, int) lp64", name: "lseek", arches: []string{"arm64", "riscv64", "x86_64"}},
		{line: "int __socket:socketcall:1(int, int, int) x86", name: "socketcall", arches: []string{"x86"}},
		{line: "int __socket:socket(int, int, int)  arm,lp64", name: "socket", arches: []string{"arm", "arm64", "riscv64", "x86_64"}},
		{line: "int compat_select:_newselect(int n, unsigned long* inp) lp32", name: "_newselect", arches: []string{"arm", "x86"}},
		{line: "int     cacheflush:__ARM_NR_cacheflush(long start, long end, long flags)  arm", name: "__ARM_NR_cacheflush", arches: []string{"arm"}},
		{line: "int read(int) mips", err: `unknown architecture "mips"`},
		{line: "int read all", err: "no (parameter list)"},
		{line: "(int) all", err: "no function name"},
	} {
		got, err := parseSyscalls("T.TXT", "# comment\n\n"+c.line+"\n")
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "T.TXT:3") {
				t.Errorf("%q: err = %v, want T.TXT:3 ... %s", c.line, err, c.err)
			}
			continue
		}
		if err != nil || len(got) != 1 {
			t.Errorf("%q: %v, %v", c.line, got, err)
			continue
		}
		var arches []string
		for a := range got[0].arches {
			arches = append(arches, a)
		}
		sort.Strings(arches)
		if got[0].name != c.name || !reflect.DeepEqual(arches, c.arches) {
			t.Errorf("%q: %s %v, want %s %v", c.line, got[0].name, arches, c.name, c.arches)
		}
	}
}

// TestBionicFilesFit checks the vendored files as genseccomp.py would for
// every architecture bionic has: blocked names are in SYSCALLS.TXT, no
// name is both allowed and blocked; and every name allowed on x86_64 and
// arm64 has a syscall number there.
func TestBionicFilesFit(t *testing.T) {
	for arch := range bionicArches {
		if _, err := AppAllowlist(arch); err != nil {
			t.Error(err)
		}
	}
	for goarch, p := range policies {
		if _, err := allowedNumbers(p); err != nil {
			t.Errorf("%s: %v", goarch, err)
		}
	}
	if _, err := AppAllowlist("mips"); err == nil {
		t.Error("an architecture bionic does not have gave an allowlist")
	}
}

func TestAppAllowlist(t *testing.T) {
	// What proot and a Go program need, and what Android forbids an app.
	common := map[string]bool{
		"read": true, "write": true, "openat": true, "close": true, "clone": true, "execve": true,
		"wait4": true, "ptrace": true, "process_vm_readv": true, "process_vm_writev": true,
		"futex": true, "mmap": true, "rt_sigaction": true, "linkat": true, "renameat": true,
		"newfstatat": true, "getdents64": true, "setresuid": true, "pidfd_open": true,
		"openat2": false, "fchmodat2": false, "faccessat2": false, "clone3": false,
		"chroot": false, "mount": false, "umount2": false, "pivot_root": true,
		"setuid": false, "setgid": false, "setgroups": false, "setreuid": false, "setfsuid": false,
		"swapon": false, "swapoff": false, "init_module": false, "delete_module": false,
		"reboot": false, "settimeofday": false, "clock_settime": false, "adjtimex": false,
		"acct": false, "syslog": false, "sethostname": false, "set_robust_list": false, "rseq": false,
	}
	for _, c := range []struct {
		arch string
		more map[string]bool
	}{
		{"x86_64", map[string]bool{ // SECCOMP_ALLOWLIST_APP.TXT keeps these for old x86_64 apps
			"open": true, "getdents": true, "stat": true, "readlink": true, "vfork": true, "arch_prctl": true,
			"link": false, "access": false, "lstat": false, "dup2": false, "pipe": false, "poll": false, "epoll_wait": false,
		}},
		{"arm64", map[string]bool{"open": false, "getdents": false, "stat": false, "vfork": false, "link": false}},
	} {
		names, err := AppAllowlist(c.arch)
		if err != nil {
			t.Fatal(err)
		}
		set := map[string]bool{}
		for _, n := range names {
			set[n] = true
		}
		for _, m := range []map[string]bool{common, c.more} {
			for n, want := range m {
				if set[n] != want {
					t.Errorf("%s: %s allowed = %v, want %v", c.arch, n, set[n], want)
				}
			}
		}
		t.Logf("%s: %d syscalls allowed", c.arch, len(names))
	}
}

// runBPF interprets the classic BPF subset the filter uses on one
// seccomp_data (nr at offset 0, arch at 4).
func runBPF(t *testing.T, prog []unix.SockFilter, nr, arch uint32) uint32 {
	t.Helper()
	var acc uint32
	for pc, steps := 0, 0; steps <= len(prog); steps++ {
		if pc >= len(prog) {
			t.Fatalf("nr %d: ran off the end of the program", nr)
		}
		in := prog[pc]
		switch in.Code {
		case 0x20: // BPF_LD|BPF_W|BPF_ABS
			switch in.K {
			case offNr:
				acc = nr
			case offArch:
				acc = arch
			default:
				t.Fatalf("load of offset %d", in.K)
			}
			pc++
		case 0x15, 0x35: // BPF_JMP|BPF_JEQ|BPF_K, BPF_JMP|BPF_JGE|BPF_K
			if (in.Code == 0x15 && acc == in.K) || (in.Code == 0x35 && acc >= in.K) {
				pc += 1 + int(in.Jt)
			} else {
				pc += 1 + int(in.Jf)
			}
		case 0x06: // BPF_RET|BPF_K
			return in.K
		default:
			t.Fatalf("unexpected BPF code %#x at %d", in.Code, pc)
		}
	}
	t.Fatal("the program loops")
	return 0
}

func TestFilter(t *testing.T) {
	for goarch, p := range policies {
		allowed, err := allowedNumbers(p)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 4; i++ {
			deny, libc := i&1 != 0, i&2 != 0
			var shim map[string]uint32
			if libc {
				shim = hostLibcThreads
			}
			prog, err := buildFilter(p, deny, shim)
			if err != nil {
				t.Fatalf("%s: %v", goarch, err)
			}
			if len(prog) > 1024 {
				t.Errorf("%s: %d instructions, want a small filter", goarch, len(prog))
			}
			nrs := []uint32{x32Bit, x32Bit + p.nr["read"], x32Bit + p.nr["openat"], 1 << 31, ^uint32(0)}
			for nr := uint32(0); nr < 1024; nr++ {
				nrs = append(nrs, nr)
			}
			for _, nr := range nrs {
				want := uint32(retTrap)
				switch {
				case p.x32 && nr&x32Bit != 0:
				case deny && (nr == p.nr["linkat"] || (nr == p.nr["link"] && goarch == "amd64")):
					want = retEACCES
				case libc && nr == p.nr["clone3"]:
					want = retENOSYS
				case libc && (nr == p.nr["rseq"] || nr == p.nr["set_robust_list"]):
					want = retAllow
				case allowed[nr] != "":
					want = retAllow
				}
				if got := runBPF(t, prog, nr, p.audit); got != want {
					t.Errorf("%s deny=%v libc=%v: syscall %d (%s) → %#x, want %#x", goarch, deny, libc, nr, allowed[nr], got, want)
				}
			}
			other := policies["arm64"].audit
			if goarch == "arm64" {
				other = policies["amd64"].audit
			}
			for _, arch := range []uint32{other, 0x40000003 /* AUDIT_ARCH_I386 */, 0} {
				if got := runBPF(t, prog, p.nr["read"], arch); got != retTrap {
					t.Errorf("%s: read under arch %#x → %#x, want a trap", goarch, arch, got)
				}
			}
		}
	}
}

// TestFilterJumpLimit shows a layout whose jumps would not fit BPF's 8
// bits is refused rather than built wrong.
func TestFilterJumpLimit(t *testing.T) {
	var rs []span
	for i := uint32(0); i < 300; i++ {
		rs = append(rs, span{2 * i, 2*i + 1})
	}
	var b bpf
	b.tree(rs)
	if b.err == nil || !strings.Contains(b.err.Error(), "over 255") {
		t.Fatalf("err = %v, want a jump over 255", b.err)
	}
}
