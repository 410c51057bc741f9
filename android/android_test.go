package android

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// layout makes files (mode 0755) under a new root.
func layout(t *testing.T, files ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, f := range files {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func env(kv ...string) func(string) string {
	return func(name string) string {
		for _, e := range kv {
			if n, v, _ := strings.Cut(e, "="); n == name {
				return v
			}
		}
		return ""
	}
}

const termux = "/data/data/com.termux/files/usr"

func TestShell(t *testing.T) {
	long := "/data/data/com.termux/files/" + strings.Repeat("x", 90)
	for _, tc := range []struct {
		name    string
		files   []string
		env     []string
		android bool
		want    string // under the root; "/bin/sh" as it is
	}{
		{"Linux", []string{"bin/sh"}, nil, false, "/bin/sh"},
		{"Linux with a PREFIX elsewhere", []string{"bin/sh", "opt/x/bin/sh"}, []string{"PREFIX=/opt/x"}, false, "/bin/sh"},
		{"Android, su -c (no PREFIX)", []string{"system/bin/linker64", "system/bin/sh"}, nil, true, "/system/bin/sh"},
		{"Android 32-bit", []string{"system/bin/linker", "system/bin/sh"}, nil, true, "/system/bin/sh"},
		{"Android by build.prop", []string{"system/build.prop", "system/bin/sh"}, nil, true, "/system/bin/sh"},
		{"Android by ANDROID_ROOT", nil, []string{"ANDROID_ROOT=/system"}, true, "/system/bin/sh"},
		{"Android by ANDROID_DATA", nil, []string{"ANDROID_DATA=/data"}, true, "/system/bin/sh"},
		{"Termux", []string{"system/bin/linker64", "system/bin/sh", termux[1:] + "/bin/sh"}, []string{"PREFIX=" + termux}, true, termux + "/bin/sh"},
		{"Termux by PREFIX alone", []string{termux[1:] + "/bin/sh"}, []string{"PREFIX=" + termux}, true, termux + "/bin/sh"},
		{"Termux without its sh", []string{"system/bin/linker64", "system/bin/sh"}, []string{"PREFIX=" + termux}, true, "/system/bin/sh"},
		{"PREFIX relative", []string{"system/bin/linker64", "usr/bin/sh"}, []string{"PREFIX=usr"}, true, "/system/bin/sh"},
		{"PREFIX with a blank", []string{"system/bin/linker64", "data/a b/bin/sh"}, []string{"PREFIX=/data/a b"}, true, "/system/bin/sh"},
		{"PREFIX too long for #!", []string{"system/bin/linker64", long[1:] + "/bin/sh"}, []string{"PREFIX=" + long}, true, "/system/bin/sh"},
	} {
		root := layout(t, tc.files...)
		h := Host{Root: root, Getenv: env(tc.env...)}
		if got := h.Is(); got != tc.android {
			t.Errorf("%s: Is = %v, want %v", tc.name, got, tc.android)
		}
		want := tc.want
		if tc.android {
			want = filepath.Join(root, tc.want)
		}
		if got := h.Shell(); got != want {
			t.Errorf("%s: Shell = %q, want %q", tc.name, got, want)
		}
	}
}

// This machine, as the tests run on it, is not Android.
func TestThisHost(t *testing.T) {
	if _, err := os.Stat("/system/bin/linker64"); err == nil {
		t.Skip("this test host has /system/bin/linker64")
	}
	h := Host{Getenv: env()}
	if h.Is() || h.Shell() != "/bin/sh" {
		t.Errorf("Is %v, Shell %q on a Linux host", h.Is(), h.Shell())
	}
}
