package launcher

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// resolveWithin runs ResolveUser, failing the test if it does not return
// within 10 seconds (a FIFO used to block it forever).
func resolveWithin(t *testing.T, dir, spec string) (User, error) {
	t.Helper()
	type result struct {
		u   User
		err error
	}
	done := make(chan result, 1)
	go func() {
		u, err := ResolveUser(dir, spec)
		done <- result{u, err}
	}()
	select {
	case r := <-done:
		return r.u, r.err
	case <-time.After(10 * time.Second):
		t.Fatalf("ResolveUser(%q) hangs", spec)
		return User{}, nil
	}
}

// The image's /etc/passwd and /etc/group are read only when they are
// regular files of a sane size: a FIFO would hang the pull, a device would
// be opened (as root), a huge file read whole.
func TestResolveUserOnlyRegularFiles(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "shadow")
	os.WriteFile(secret, []byte("evil:x:0:0::/evil:/bin/sh\n"), 0600)
	tests := []struct {
		name    string
		make    func(path string) error
		root    bool // needs root (mknod of a device)
		wantErr bool // ErrUserDB; otherwise the file reads as missing
		wantMsg string
	}{
		{"fifo", func(p string) error { return syscall.Mkfifo(p, 0644) }, false, true, "FIFO"},
		{"char device", func(p string) error { return syscall.Mknod(p, syscall.S_IFCHR|0644, 1<<8|5) }, true, true, "character device"}, // /dev/zero
		{"directory", func(p string) error { return os.Mkdir(p, 0755) }, false, true, "directory"},
		{"huge", func(p string) error {
			f, err := os.Create(p)
			if err != nil {
				return err
			}
			defer f.Close()
			return f.Truncate(MaxUserDB + 1)
		}, false, true, "MiB"},
		{"symlink out of the rootfs", func(p string) error { return os.Symlink(secret, p) }, false, false, ""},
		{"relative symlink out of the rootfs", func(p string) error {
			rel, _ := filepath.Rel(filepath.Dir(p), secret)
			return os.Symlink(rel, p)
		}, false, false, ""},
	}
	for _, tt := range tests {
		for _, file := range []string{"etc/passwd", "etc/group"} {
			t.Run(tt.name+"/"+file, func(t *testing.T) {
				if tt.root && os.Geteuid() != 0 {
					t.Skip("mknod of a device needs root; CI runs the tests as root")
				}
				dir := t.TempDir()
				os.MkdirAll(filepath.Join(dir, "etc"), 0755)
				os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0644)
				os.WriteFile(filepath.Join(dir, "etc/group"), []byte("root:x:0:\n"), 0644)
				p := filepath.Join(dir, file)
				os.Remove(p)
				if err := tt.make(p); err != nil {
					t.Fatal(err)
				}
				_, err := resolveWithin(t, dir, "evil")
				if !tt.wantErr {
					if !errors.Is(err, ErrNoUser) {
						t.Errorf("err = %v, want ErrNoUser (the file outside is not read)", err)
					}
					return
				}
				if !errors.Is(err, ErrUserDB) || !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), file) {
					t.Errorf("err = %v, want ErrUserDB naming /%s and %q", err, file, tt.wantMsg)
				}
				if _, err := resolveWithin(t, dir, ""); !errors.Is(err, ErrUserDB) {
					t.Errorf("default user: err = %v, want ErrUserDB", err)
				}
			})
		}
	}
}

// Ids are plain numbers in range: a line whose uid or gid would read as an
// option ("-1") or overflow is skipped, as libc skips malformed lines.
func TestResolveUserBadIDs(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "etc"), 0755)
	os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("neg:x:-1:-1::/:/bin/sh\nbig:x:99999999999:0::/:/bin/sh\nplus:x:+5:0::/:/bin/sh\nok:x:5:6::/:/bin/sh\n"), 0644)
	os.WriteFile(filepath.Join(dir, "etc/group"), []byte("g:x:-7:ok\n"), 0644)
	for _, name := range []string{"neg", "big", "plus"} {
		if u, err := resolveWithin(t, dir, name); !errors.Is(err, ErrNoUser) {
			t.Errorf("%s: got %+v, %v; want ErrNoUser", name, u, err)
		}
	}
	if u, err := resolveWithin(t, dir, "ok"); err != nil || u.UID != 5 || u.GID != 6 || len(u.Groups) != 0 {
		t.Errorf("ok: got %+v, %v", u, err)
	}
	for _, spec := range []string{"-1", "+5", "ok:-7", "99999999999", "--help"} {
		if _, err := resolveWithin(t, dir, spec); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%q: err = %v, want ErrBadConfig", spec, err)
		}
	}
}
