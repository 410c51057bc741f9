package launcher

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrepareDNS(t *testing.T) {
	host := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(host, []byte("# host\nnameserver 192.0.2.53\nsearch example.org\noptions ndots:2\nbogus\n"), 0644)
	termux := filepath.Join(t.TempDir(), "termux-resolv.conf") // $PREFIX/etc/resolv.conf
	os.WriteFile(termux, []byte("nameserver 127.0.0.1:5353\nnameserver 192.0.2.77\n"), 0644)
	portOnly := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(portOnly, []byte("nameserver 127.0.0.1:5353\n"), 0644)
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	os.WriteFile(secret, []byte("keep"), 0644)

	tests := []struct {
		name     string
		setup    func(dir string)
		opts     PrepareOptions
		want     string // substring of etc/resolv.conf
		wantKeep string // exact content when the image's file must stay
	}{
		{"missing: the host's", func(string) {}, PrepareOptions{HostResolvConf: host}, "nameserver 192.0.2.53\nsearch example.org\noptions ndots:2\n", ""},
		{"no host file: public", func(string) {}, PrepareOptions{HostResolvConf: "/nonexistent", TermuxResolvConf: "/nonexistent"}, "nameserver 1.1.1.1\nnameserver 8.8.8.8\n", ""},
		{"no host file (Android): Termux's, without ports", func(string) {}, PrepareOptions{HostResolvConf: "/nonexistent", TermuxResolvConf: termux}, "keep it as it is\nnameserver 192.0.2.77\n", ""},
		{"host file without a plain IP: Termux's", func(string) {}, PrepareOptions{HostResolvConf: portOnly, TermuxResolvConf: termux}, "keep it as it is\nnameserver 192.0.2.77\n", ""},
		{"--dns", func(string) {}, PrepareOptions{HostResolvConf: host, DNS: []string{"9.9.9.9"}}, "nameserver 9.9.9.9\n", ""},
		{"empty file replaced", func(d string) { os.WriteFile(filepath.Join(d, "etc/resolv.conf"), nil, 0644) }, PrepareOptions{HostResolvConf: host}, "192.0.2.53", ""},
		{"shipped file kept", func(d string) {
			os.WriteFile(filepath.Join(d, "etc/resolv.conf"), []byte("nameserver 10.0.0.1\n"), 0644)
		}, PrepareOptions{HostResolvConf: host}, "", "nameserver 10.0.0.1\n"},
		{"dangling /run symlink replaced", func(d string) {
			os.Symlink("../run/systemd/resolve/stub-resolv.conf", filepath.Join(d, "etc/resolv.conf"))
		}, PrepareOptions{HostResolvConf: host}, "192.0.2.53", ""},
		{"symlink out of the root replaced, target untouched", func(d string) {
			os.Symlink(secret, filepath.Join(d, "etc/resolv.conf"))
		}, PrepareOptions{HostResolvConf: host}, "192.0.2.53", ""},
		{"our own file rewritten", func(d string) {
			os.WriteFile(filepath.Join(d, "etc/resolv.conf"), []byte(dnsMarker+"\nnameserver 203.0.113.1\n"), 0644)
		}, PrepareOptions{DNS: []string{"9.9.9.9"}}, "nameserver 9.9.9.9\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			os.MkdirAll(filepath.Join(dir, "etc"), 0755)
			tt.setup(dir)
			if err := Prepare(dir, tt.opts); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Lstat(filepath.Join(dir, "etc/resolv.conf"))
			if err != nil || !fi.Mode().IsRegular() {
				t.Fatalf("resolv.conf: %v, %v", fi, err)
			}
			got, _ := os.ReadFile(filepath.Join(dir, "etc/resolv.conf"))
			if tt.wantKeep != "" && string(got) != tt.wantKeep {
				t.Errorf("the image's resolv.conf was changed to %q", got)
			}
			if tt.want != "" && !strings.Contains(string(got), tt.want) {
				t.Errorf("resolv.conf = %q, want it to hold %q", got, tt.want)
			}
			if b, _ := os.ReadFile(secret); string(b) != "keep" {
				t.Errorf("a file outside the rootfs was written: %q", b)
			}
		})
	}
}

func TestPrepareLayout(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "etc"), 0755)
	os.WriteFile(filepath.Join(dir, "etc/hosts"), []byte("10.1.1.1 mine\n"), 0644)
	if err := Prepare(dir, PrepareOptions{DNS: []string{"1.1.1.1"}}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "etc/hosts")); string(b) != "10.1.1.1 mine\n" {
		t.Errorf("the image's hosts file was changed: %q", b)
	}
	for _, d := range []string{"proc", "sys", "dev", "tmp"} {
		if fi, err := os.Stat(filepath.Join(dir, d)); err != nil || !fi.IsDir() {
			t.Errorf("/%s not made: %v", d, err)
		}
	}
	if fi, _ := os.Stat(filepath.Join(dir, "tmp")); fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0777 {
		t.Errorf("/tmp mode %v, want sticky 0777", fi.Mode())
	}
	for name := range fakeProc {
		if _, err := os.Stat(filepath.Join(dir, ".rootfs-pull/proc", name)); err != nil {
			t.Errorf("fake /proc/%s: %v", name, err)
		}
	}
	empty := t.TempDir()
	if err := Prepare(empty, PrepareOptions{DNS: []string{"1.1.1.1"}}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(empty, "etc/hosts")); !strings.Contains(string(b), "127.0.0.1\tlocalhost") {
		t.Errorf("hosts = %q", b)
	}
}
