package lxc

import "testing"

func TestNormalServer(t *testing.T) {
	for in, want := range map[string]string{
		"": DefaultServer,
		"mirrors.tuna.tsinghua.edu.cn/lxc-images": "https://mirrors.tuna.tsinghua.edu.cn/lxc-images",
		"https://mirror.nju.edu.cn/lxc-images/":   "https://mirror.nju.edu.cn/lxc-images",
		"http://127.0.0.1:8080":                   "http://127.0.0.1:8080",
	} {
		if got, err := NormalServer(in); err != nil || got != want {
			t.Errorf("NormalServer(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"http://mirror.example", "http://127.evil.example", "ftp://x", "https://x/?q=1", "https://"} {
		if got, err := NormalServer(bad); err == nil {
			t.Errorf("NormalServer(%q) = %q, accepted", bad, got)
		}
	}
}

func TestCheckPath(t *testing.T) {
	for _, ok := range []string{"images/debian/bookworm/amd64/default/20240101_05:24/rootfs.tar.xz", "streams/v1/images.json"} {
		if err := checkPath(ok); err != nil {
			t.Errorf("checkPath(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "/etc/passwd", "../x", "images/../../x", "https://evil/x", "a//b", "a?b", `a\b`} {
		if checkPath(bad) == nil {
			t.Errorf("checkPath(%q) accepted", bad)
		}
	}
}
