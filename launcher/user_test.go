package launcher

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestResolveUser(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "etc"), 0755)
	os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte(`root:x:0:0:root:/root:/bin/sh
# a comment
broken line
app:x:1000:1001:App:/srv/app:/bin/sh
nohome:x:1002:1002:::/bin/sh
`), 0644)
	os.WriteFile(filepath.Join(dir, "etc/group"), []byte(`root:x:0:
staff:x:50:app,other
appgrp:x:1001:
wheel:x:10:app
`), 0644)
	tests := []struct {
		spec string
		want User
		err  bool
	}{
		{"", User{Name: "root", UID: 0, GID: 0, Home: "/root"}, false},
		{"root", User{Name: "root", Home: "/root"}, false},
		{"app", User{Name: "app", UID: 1000, GID: 1001, Groups: []int{50, 10}, Home: "/srv/app"}, false},
		{"1000", User{Name: "app", UID: 1000, GID: 1001, Groups: []int{50, 10}, Home: "/srv/app"}, false},
		// Supplementary groups are the /etc/group memberships, as runc
		// reads them; the passwd entry's own group is not one.
		{"app:staff", User{Name: "app", UID: 1000, GID: 50, Groups: []int{10}, Home: "/srv/app"}, false},
		{"app:7", User{Name: "app", UID: 1000, GID: 7, Groups: []int{50, 10}, Home: "/srv/app"}, false},
		{"4242", User{UID: 4242, Home: "/"}, false},
		{"4242:4343", User{UID: 4242, GID: 4343, Home: "/"}, false},
		{"nohome", User{Name: "nohome", UID: 1002, GID: 1002, Home: "/"}, false},
		{"ghost", User{}, true},
		{"app:ghosts", User{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ResolveUser(dir, tt.spec)
			if tt.err {
				if !errors.Is(err, ErrNoUser) {
					t.Fatalf("err = %v, want ErrNoUser", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got.Groups)
			slices.Sort(tt.want.Groups)
			if got.Name != tt.want.Name || got.UID != tt.want.UID || got.GID != tt.want.GID || got.Home != tt.want.Home || !slices.Equal(got.Groups, tt.want.Groups) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// A hostile image's /etc/passwd symlinked to a host file is not read.
func TestResolveUserConfined(t *testing.T) {
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "passwd"), []byte("evil:x:0:0::/evil:/bin/sh\n"), 0644)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "etc"), 0755)
	os.Symlink(filepath.Join(outside, "passwd"), filepath.Join(dir, "etc/passwd"))
	if _, err := ResolveUser(dir, "evil"); !errors.Is(err, ErrNoUser) {
		t.Errorf("resolved a user from a file outside the rootfs: err = %v", err)
	}
}
