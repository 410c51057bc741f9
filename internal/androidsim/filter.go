package androidsim

import (
	"fmt"
	"sort"

	"golang.org/x/sys/unix"
)

// archPolicy is what the filter needs to know of one architecture.
type archPolicy struct {
	bionic string            // bionic's name for it
	audit  uint32            // seccomp_data.arch of its native syscalls
	nr     map[string]uint32 // syscall numbers (zsysnum.go)
	x32    bool              // x86_64: numbers with bit 30 set are the x32 ABI
}

// policies are the architectures Install can simulate Android on, by GOARCH.
var policies = map[string]archPolicy{
	"amd64": {bionic: "x86_64", audit: unix.AUDIT_ARCH_X86_64, nr: sysnumX86_64, x32: true},
	"arm64": {bionic: "arm64", audit: unix.AUDIT_ARCH_AARCH64, nr: sysnumARM64},
}

const (
	x32Bit = 0x40000000 // __X32_SYSCALL_BIT

	offNr   = 0 // offsetof(struct seccomp_data, nr)
	offArch = 4 // offsetof(struct seccomp_data, arch)

	retAllow  = unix.SECCOMP_RET_ALLOW
	retTrap   = unix.SECCOMP_RET_TRAP // SIGSYS, what Android's app filter returns
	retEACCES = unix.SECCOMP_RET_ERRNO | uint32(unix.EACCES)
	retENOSYS = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)

	maxInsns = 4096 // BPF_MAXINSNS
)

// allowedNumbers returns the syscall numbers of the app allowlist on p,
// sorted. Every allowed name must have a number, as genseccomp requires.
func allowedNumbers(p archPolicy) (map[uint32]string, error) {
	names, err := AppAllowlist(p.bionic)
	if err != nil {
		return nil, err
	}
	out := make(map[uint32]string, len(names))
	for _, n := range names {
		nr, ok := p.nr[n]
		if !ok {
			return nil, fmt.Errorf("androidsim: %s: bionic allows %q, which has no syscall number there", p.bionic, n)
		}
		out[nr] = n
	}
	return out, nil
}

// hostLibcThreads are the syscalls glibc makes for every thread it
// starts and that Android's app policy does not allow, bionic making
// none of them: pthread_create calls clone3, the new thread registers
// rseq and its robust futex list. A Go program built with cgo or -race
// runs on the host's glibc, so under a faithful filter its next thread
// would die. With hostLibc, clone3 fails with ENOSYS (glibc then uses
// clone, which Android allows) and the other two are allowed (glibc
// aborts when a thread cannot register rseq after the first one could).
// Go code itself makes none of them.
var hostLibcThreads = map[string]uint32{"clone3": retENOSYS, "rseq": retAllow, "set_robust_list": retAllow}

// buildFilter returns the BPF program of Android's app policy for p:
// a foreign seccomp_data.arch (or, on x86_64, an x32 number) traps;
// with denyLinks, link and linkat fail with EACCES (SELinux denies apps
// hard links since Android 6); the syscalls in shim (hostLibcThreads or
// none) get its answers; the allowlist is allowed, first the priority syscalls, then a
// binary search over ranges of numbers as genseccomp.py lays it out;
// everything else traps (SIGSYS).
func buildFilter(p archPolicy, denyLinks bool, shim map[string]uint32) ([]unix.SockFilter, error) {
	allowed, err := allowedNumbers(p)
	if err != nil {
		return nil, err
	}
	prio, err := priorities()
	if err != nil {
		return nil, err
	}
	var b bpf
	b.ld(offArch)
	b.jump(unix.BPF_JEQ, p.audit, 1, 0)
	b.ret(retTrap)
	b.ld(offNr)
	if p.x32 {
		b.jump(unix.BPF_JGE, x32Bit, 0, 1)
		b.ret(retTrap)
	}
	if denyLinks {
		for _, n := range []string{"link", "linkat"} {
			if nr, ok := p.nr[n]; ok {
				b.jump(unix.BPF_JEQ, nr, 0, 1)
				b.ret(retEACCES)
			}
		}
	}
	shimmed := make([]string, 0, len(shim))
	for n := range shim {
		shimmed = append(shimmed, n)
	}
	sort.Strings(shimmed)
	for _, n := range shimmed {
		if nr, ok := p.nr[n]; ok && allowed[nr] == "" {
			b.jump(unix.BPF_JEQ, nr, 0, 1)
			b.ret(shim[n])
		}
	}
	for _, n := range prio {
		if nr, ok := p.nr[n]; ok && allowed[nr] != "" {
			b.jump(unix.BPF_JEQ, nr, 0, 1)
			b.ret(retAllow)
		}
	}
	nrs := make([]uint32, 0, len(allowed))
	for nr := range allowed {
		nrs = append(nrs, nr)
	}
	sort.Slice(nrs, func(i, j int) bool { return nrs[i] < nrs[j] })
	rs := ranges(nrs)
	if len(rs) == 0 {
		return nil, fmt.Errorf("androidsim: %s: empty allowlist", p.bionic)
	}
	b.jump(unix.BPF_JGE, rs[0].lo, 1, 0)
	b.ret(retTrap)
	b.tree(rs)
	if b.err != nil {
		return nil, fmt.Errorf("androidsim: %s: %w", p.bionic, b.err)
	}
	if len(b.prog) > maxInsns {
		return nil, fmt.Errorf("androidsim: %s: %d BPF instructions, over the kernel's %d", p.bionic, len(b.prog), maxInsns)
	}
	return b.prog, nil
}

// linksOnlyFilter lets every syscall through but link and linkat, which
// fail with EACCES as they do for apps: for the host's glibc programs that
// stand in for Termux's in the Android world (see runner.go).
func linksOnlyFilter(p archPolicy) []unix.SockFilter {
	var b bpf
	b.ld(offArch)
	b.jump(unix.BPF_JEQ, p.audit, 1, 0)
	b.ret(retTrap)
	b.ld(offNr)
	for _, n := range []string{"link", "linkat"} {
		if nr, ok := p.nr[n]; ok {
			b.jump(unix.BPF_JEQ, nr, 0, 1)
			b.ret(retEACCES)
		}
	}
	b.ret(retAllow)
	return b.prog
}

// span is the syscall numbers lo ≤ nr < hi.
type span struct{ lo, hi uint32 }

// ranges folds sorted numbers into runs of consecutive ones.
func ranges(nrs []uint32) []span {
	var out []span
	for _, nr := range nrs {
		if len(out) > 0 && out[len(out)-1].hi == nr {
			out[len(out)-1].hi++
			continue
		}
		out = append(out, span{nr, nr + 1})
	}
	return out
}

// bpf assembles a classic BPF program.
type bpf struct {
	prog []unix.SockFilter
	err  error
}

func (b *bpf) ld(off uint32) {
	b.prog = append(b.prog, unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off})
}

func (b *bpf) ret(v uint32) {
	b.prog = append(b.prog, unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: v})
}

// jump compares the accumulator with k; jt and jf count the instructions
// skipped when true and false. They are 8 bits wide.
func (b *bpf) jump(op uint16, k uint32, jt, jf int) {
	if jt > 255 || jf > 255 {
		if b.err == nil {
			b.err = fmt.Errorf("a BPF jump of %d instructions is over 255", max(jt, jf))
		}
		jt, jf = 0, 0
	}
	b.prog = append(b.prog, unix.SockFilter{Code: unix.BPF_JMP | op | unix.BPF_K, Jt: uint8(jt), Jf: uint8(jf), K: k})
}

// tree emits a binary search over rs, for a number known to be ≥ rs[0].lo:
// each leaf is its range's upper bound check followed by its own ALLOW and
// TRAP, so every jump stays inside its half of the tree.
func (b *bpf) tree(rs []span) {
	if len(rs) == 1 {
		b.jump(unix.BPF_JGE, rs[0].hi, 1, 0)
		b.ret(retAllow)
		b.ret(retTrap)
		return
	}
	half := (len(rs) + 1) / 2
	at := len(b.prog)
	b.jump(unix.BPF_JGE, rs[half].lo, 0, 0) // patched below
	b.tree(rs[:half])
	if skip := len(b.prog) - at - 1; skip > 255 {
		if b.err == nil {
			b.err = fmt.Errorf("a BPF jump of %d instructions is over 255", skip)
		}
	} else {
		b.prog[at].Jt = uint8(skip)
	}
	b.tree(rs[half:])
}
