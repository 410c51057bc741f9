package launcher

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// validLine is what the container's resolv.conf may hold, line by line:
// the marker, "nameserver IP", "search"/"domain" with DNS names, and
// "options" with option words (name or name:number).
var validLine = regexp.MustCompile(`^(# written by rootfs-pull.*|nameserver [0-9a-fA-F.:]+|(search|domain)( [A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?)+|options( [a-z][a-z0-9-]*(:[0-9]+)?)+)$`)

// checkResolv fails t unless every line of the container's resolv.conf
// from termux content is valid, and returns them.
func containerResolv(t *testing.T, content string) []string {
	t.Helper()
	termux := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(termux, []byte(content), 0644); err != nil {
		t.Fatal(err)
	}
	b, err := resolvConf(PrepareOptions{HostResolvConf: "/nonexistent", TermuxResolvConf: termux})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// Termux's resolv.conf is the phone's own file, but what it holds goes
// into every container: only a valid nameserver, search or options line
// may come out of it, never other text (control characters, shell
// syntax, words libc would misread).
func TestReviewContainerResolvConfOnlyValidLines(t *testing.T) {
	lines := containerResolv(t, "nameserver 192.0.2.1 trailing words\n"+
		"search ok.example \x1b]0;owned\x07 $(reboot)\n"+
		"options ndots:2 \x1b[2J rotate\n"+
		"domain a\u202eb.example\n"+
		"nameserver 192.0.2.2\n")
	for _, l := range lines {
		if !validLine.MatchString(l) {
			t.Errorf("container resolv.conf line %q", l)
		}
	}
	if !strings.Contains(strings.Join(lines, "\n"), "nameserver 192.0.2.2") {
		t.Errorf("the valid nameserver was lost: %q", lines)
	}
}

// A Termux file of thousands of nameserver lines gives the container
// at most the three libc uses (glibc's and musl's MAXNS).
func TestReviewContainerResolvConfBounded(t *testing.T) {
	var b strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&b, "nameserver %s\n", netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}))
	}
	n := 0
	for _, l := range containerResolv(t, b.String()) {
		if strings.HasPrefix(l, "nameserver ") {
			n++
		}
	}
	if n > 3 {
		t.Errorf("%d nameserver lines written", n)
	}
}

// A resolver file that is a FIFO must not hang Prepare.
func TestReviewContainerResolvConfFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "resolv.conf")
	if err := syscall.Mkfifo(fifo, 0644); err != nil {
		t.Skip("no FIFO:", err)
	}
	t.Cleanup(func() {
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		resolvConf(PrepareOptions{HostResolvConf: fifo, TermuxResolvConf: fifo})
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("a FIFO resolv.conf hangs Prepare")
	}
}

// Whatever the host's or Termux's resolver file holds, the container's
// gets only valid lines, and at most 3 nameservers.
func FuzzReviewResolvLines(f *testing.F) {
	f.Add("nameserver 192.0.2.1\nsearch a.example b\noptions ndots:2 edns0\n")
	f.Add("nameserver ::ffff:1.2.3.4 x\ndomain x\u202e.example\noptions \x1b[2J\n")
	f.Add("nameserver 1.1.1.1\nnameserver 2.2.2.2\nnameserver 3.3.3.3\nnameserver 4.4.4.4\n")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content string) {
		name := filepath.Join(dir, "resolv.conf")
		if err := os.WriteFile(name, []byte(content), 0644); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, l := range resolvLines(name) {
			if !validLine.MatchString(l) {
				t.Fatalf("line %q", l)
			}
			if strings.HasPrefix(l, "nameserver ") {
				n++
			}
		}
		if n > 3 {
			t.Fatalf("%d nameservers", n)
		}
	})
}
