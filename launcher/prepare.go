package launcher

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"regexp"
	"strings"
	"syscall"

	"github.com/rootfs-pull/rootfs-pull/resolver"
)

// PublicDNS is used when neither the host nor Termux has a resolv.conf to
// copy.
var PublicDNS = []string{"1.1.1.1", "8.8.8.8"}

// dnsMarker starts a resolv.conf this tool wrote, so a later run may
// rewrite it; a file the image ships is never touched.
const dnsMarker = "# written by rootfs-pull"

// PrepareOptions tune Prepare.
type PrepareOptions struct {
	// DNS servers for the container's /etc/resolv.conf; empty: the host's,
	// else Termux's, else PublicDNS.
	DNS []string
	// HostResolvConf is the host's resolver file ("" = /etc/resolv.conf).
	HostResolvConf string
	// TermuxResolvConf is used when the host's names no server, as on
	// Android ("" = $PREFIX/etc/resolv.conf, see resolver.TermuxResolvConf;
	// "-" = none).
	TermuxResolvConf string
}

// Prepare readies the rootfs at dir for running, as docker run does at
// start: an /etc/resolv.conf and /etc/hosts when the image has none (or an
// empty one, or a symlink into a /run that does not exist), mount points
// for /proc, /sys, /dev and /tmp, and stand-ins for the /proc files
// Android hides from apps. Every path is opened through an os.Root: a
// hostile image cannot turn these writes outside the rootfs. (os.Root
// walks with openat; of its methods only Chmod, which is not used, makes a
// syscall Android forbids.)
func Prepare(dir string, o PrepareOptions) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("prepare %s: %w", dir, err)
	}
	defer root.Close()
	for _, d := range []string{"etc", "proc", "sys", "dev", "tmp"} {
		if err := root.Mkdir(d, 0755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("prepare %s: %w", dir, err)
		}
	}
	if fi, err := root.Lstat("tmp"); err == nil && fi.IsDir() && fi.Mode().Perm() == 0755 && fi.Mode()&fs.ModeSticky == 0 {
		// Made above, or as dull as that: /tmp is world-writable and
		// sticky. fchmod on an open fd, not Root.Chmod: that is fchmodat2,
		// which Android's seccomp policy answers by killing the process.
		if f, err := root.Open("tmp"); err == nil {
			if fi, err := f.Stat(); err == nil && fi.IsDir() {
				f.Chmod(0777 | fs.ModeSticky)
			}
			f.Close()
		}
	}
	resolv, err := resolvConf(o)
	if err != nil {
		return err
	}
	if err := writeUnlessShipped(root, "etc/resolv.conf", resolv, dnsMarker); err != nil {
		return fmt.Errorf("prepare %s: %w", dir, err)
	}
	hosts := []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	if err := writeUnlessShipped(root, "etc/hosts", hosts, ""); err != nil {
		return fmt.Errorf("prepare %s: %w", dir, err)
	}
	if err := writeFakeProc(root); err != nil {
		return fmt.Errorf("prepare %s: fake /proc files: %w", dir, err)
	}
	return nil
}

// resolvConf is the container's resolver file: the given servers, else
// the host's nameserver/search/options lines, else (Android has no
// /etc/resolv.conf) Termux's, else public resolvers.
func resolvConf(o PrepareOptions) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(dnsMarker + "; edit freely, or replace this line to keep it as it is\n")
	servers := o.DNS
	if len(servers) == 0 {
		host := o.HostResolvConf
		if host == "" {
			host = "/etc/resolv.conf"
		}
		termux := o.TermuxResolvConf
		if termux == "" {
			termux = resolver.TermuxResolvConf()
		}
		for _, name := range []string{host, termux} {
			if name == "-" {
				continue
			}
			if lines := resolvLines(name); lines != nil {
				for _, l := range lines {
					b.WriteString(l + "\n")
				}
				return b.Bytes(), nil
			}
		}
		servers = PublicDNS
	}
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	return b.Bytes(), nil
}

// resolvLines are the nameserver/search/options lines of the resolver
// file name, nil when it names no nameserver a libc can use (a plain IP:
// rootfs-pull's own IP:port lines are left out).
//
// The file is the host's or Termux's, but what it holds goes into every
// container, so only what a libc reads is copied, and only when well
// formed: "nameserver IP" (the first maxNameservers), "search" and
// "domain" with DNS names, "options" with option words (name or
// name:number). Other lines and words are left out. The file is read
// only when it is a regular file (resolver.ReadConf): a FIFO does not
// hang.
func resolvLines(name string) []string {
	data, _ := resolver.ReadConf(name)
	if data == nil {
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	var lines []string
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "nameserver":
			ip := net.ParseIP(fields[1])
			if ip == nil || n == maxNameservers {
				continue
			}
			n++
			lines = append(lines, "nameserver "+ip.String())
		case "search", "domain":
			var names []string
			for _, d := range fields[1:] {
				if len(names) < maxSearch && dnsName(d) {
					names = append(names, d)
				}
			}
			if fields[0] == "domain" && len(names) > 1 {
				names = names[:1]
			}
			if len(names) > 0 {
				lines = append(lines, fields[0]+" "+strings.Join(names, " "))
			}
		case "options":
			var opts []string
			for _, o := range fields[1:] {
				if len(opts) < maxSearch && optionWord.MatchString(o) {
					opts = append(opts, o)
				}
			}
			if len(opts) > 0 {
				lines = append(lines, "options "+strings.Join(opts, " "))
			}
		}
	}
	if n == 0 {
		return nil
	}
	return lines
}

// Bounds on what resolvLines copies: glibc's and musl's MAXNS, and
// glibc's MAXDNSRCH (also used for option words).
const (
	maxNameservers = 3
	maxSearch      = 6
)

// optionWord is a resolv.conf option: a name, or name:number.
var optionWord = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}(:[0-9]{1,4})?$`)

// dnsName reports whether s is a DNS name as a search list holds it:
// labels of letters, digits, '-' and '_', 1 to 63 bytes, at most 253 in
// all, and an optional final dot.
func dnsName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// writeUnlessShipped writes name unless the image ships it as a non-empty
// regular file (other than one this tool wrote, starting with marker). A
// symlink in its place (to a /run that is empty in an image) is replaced.
func writeUnlessShipped(root *os.Root, name string, data []byte, marker string) error {
	fi, err := root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case fi.Mode().IsRegular() && fi.Size() > 0:
		if marker == "" {
			return nil
		}
		if !startsWith(root, name, marker) {
			return nil
		}
		if fi.Size() == int64(len(data)) && startsWith(root, name, string(data)) {
			return nil // already what it would be (a resume, a restore here)
		}
		if err := root.Remove(name); err != nil {
			return err
		}
	case fi.Mode().IsRegular(), fi.Mode()&fs.ModeSymlink != 0:
		if err := root.Remove(name); err != nil {
			return err
		}
	default:
		return nil // a directory or device: the image's business
	}
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// startsWith reports whether name, a regular file in root, starts with
// prefix. It reads len(prefix) bytes, whatever the file's size (the image
// chose it), and opens nothing else: not a FIFO (O_NONBLOCK, and the file
// opened must be regular), not a device.
func startsWith(root *os.Root, name, prefix string) bool {
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return false
	}
	buf := make([]byte, len(prefix))
	if _, err := io.ReadFull(f, buf); err != nil {
		return false
	}
	return string(buf) == prefix
}

// fakeProc holds stand-ins for /proc files Android (≥ 8) hides from apps,
// which tools like top, free, uptime and ps read. Values are plausible for
// an idle 8-core phone, as proot-distro's are.
var fakeProc = map[string]string{
	"loadavg": "0.12 0.07 0.02 2/165 765\n",
	"uptime":  "7236.18 54126.66\n",
	"version": "Linux version " + DefaultKernelRelease + " (rootfs-pull@localhost) (gcc) #1 SMP PREEMPT Thu Jan 1 00:00:00 UTC 2026\n",
	"stat": "cpu  1957 0 2877 93280 262 342 254 87 0 0\n" +
		"cpu0 31 0 226 12027 82 10 4 9 0 0\n" +
		"intr 63361 0 0 0 0 0 0 0 0 0\nctxt 38014093\nbtime 1694292441\nprocesses 26442\nprocs_running 1\nprocs_blocked 0\nsoftirq 75663 0 5903 6 25375 10774 0 243 11685 0 21677\n",
	"vmstat": "nr_free_pages 1743136\nnr_zone_inactive_anon 179281\nnr_zone_active_anon 7183\nnr_zone_inactive_file 22858\n" +
		"nr_zone_active_file 51328\nnr_mlock 0\nnr_dirty 56\nnr_writeback 0\npgpgin 890508\npgpgout 1235404\npswpin 0\npswpout 0\n",
	// /proc/sys files, named with . for /: the launcher binds
	// sys.kernel.cap_last_cap as /proc/sys/kernel/cap_last_cap. libcap and
	// systemd's tools read the first, inotify users (file watchers) the
	// second, programs mapping ids the last two.
	"sys.kernel.cap_last_cap":         "40\n",
	"sys.fs.inotify.max_user_watches": "8192\n",
	"sys.kernel.overflowuid":          "65534\n",
	"sys.kernel.overflowgid":          "65534\n",
}

// emptyDir is an empty directory in the state directory, which the
// launcher binds over /sys/fs/selinux on Android: inside, SELinux looks
// off, as tools that would relabel files expect of a container.
const emptyDir = ".rootfs-pull/empty"

// fakeProcDir holds the stand-ins, in the rootfs: the container sees it
// (as /.rootfs-pull/proc) and may have put anything there.
const fakeProcDir = ".rootfs-pull/proc"

// writeFakeProc writes the stand-ins under root's fakeProcDir, never
// through a symlink: one at .rootfs-pull/proc is replaced by a directory,
// one at a file's name is removed, and each file is created anew
// (O_EXCL: not opened if something is there again).
func writeFakeProc(root *os.Root) error {
	if err := root.Mkdir(".rootfs-pull", 0755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if fi, err := root.Lstat(".rootfs-pull"); err != nil {
		return err
	} else if !fi.IsDir() {
		return fmt.Errorf(".rootfs-pull is not a directory (%v)", fi.Mode().Type())
	}
	fi, err := root.Lstat(fakeProcDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case !fi.IsDir():
		if err := root.Remove(fakeProcDir); err != nil {
			return err
		}
	}
	if err := root.Mkdir(fakeProcDir, 0755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if fi, err := root.Lstat(fakeProcDir); err != nil {
		return err
	} else if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory (%v)", fakeProcDir, fi.Mode().Type())
	}
	if err := root.Mkdir(emptyDir, 0755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	for name, content := range fakeProc {
		p := fakeProcDir + "/" + name
		if err := root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		f, err := root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0644)
		if err != nil {
			return err
		}
		if _, err := f.WriteString(content); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}
