package main

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/internal/androidsim"
	"github.com/rootfs-pull/rootfs-pull/internal/dnstest"
	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
)

// phoneImage is a multi-layer busybox image, version v: its last layer
// deletes /etc/old (a whiteout) and writes /srv/version; user is the
// image's User.
func phoneImage(t *testing.T, v, user string) *testimage.Image {
	t.Helper()
	bb, err := testimage.Busybox("/bin/busybox")
	if err != nil {
		t.Fatalf("%v (run scripts/setup.sh)", err)
	}
	return testimage.Build(testimage.Spec{
		Config: ocispec.ImageConfig{User: user, Env: []string{"GREETING=from the phone"},
			Cmd: []string{"/bin/sh", "-c", `echo "$GREETING v$(cat /srv/version) $(id -u)"; [ -e /etc/old ] || echo whiteout-applied`}},
		Layers: []testimage.Layer{
			{Tar: bb, Compression: testimage.Gzip},
			{Tar: testimage.Tar(testimage.Dir("etc/"), testimage.File("etc/old", "deleted by the next layer\n"),
				testimage.File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n"),
				testimage.File("etc/group", "root:x:0:\nu:x:1000:\n"), testimage.Dir("srv/"), testimage.Dir("tmp/")), Compression: testimage.Zstd},
			{Tar: testimage.Tar(testimage.File("etc/.wh.old", ""), testimage.File("srv/version", v+"\n")), Compression: testimage.Gzip},
		},
	})
}

func pushTag(t *testing.T, host, name, tag string, im *testimage.Image) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := (testimage.Pusher{Host: host}).Push(ctx, name, tag, im); err != nil {
		t.Fatalf("push %s:%s: %v", name, tag, err)
	}
}

// TestPhoneWorld runs what a Termux user does, in the Android world
// (internal/androidsim): a network namespace with loopback only, no
// /etc/resolv.conf, no /bin/sh, Termux's tree at its place, the app's uid
// under Android's app seccomp policy with link(2) denied. The registry is
// reached by a name only the phone's resolvers know: netd (a stand-in on
// /dev/socket/dnsproxyd speaking resnsend, or getaddrinfo as Android 7
// to 9's), Termux's
// $PREFIX/etc/resolv.conf, or ROOTFS_PULL_DNS. A non-root pull of a
// multi-layer image, its launcher under the real proot, --update, rm,
// search and tags against a stand-in Hub; and, as su on a rooted phone
// whose only tools are toybox's, a pull and the launcher under chroot.
func TestPhoneWorld(t *testing.T) {
	if !androidsim.InWorld() {
		if os.Geteuid() != 0 {
			t.Skip("skipped: the Android world needs root (namespaces, an app uid); CI runs it as root")
		}
		// The release build, static as what Termux users install: a
		// glibc-linked test binary could not even start under the policy.
		binary := filepath.Join(releaseBinaries(t), "rootfs-pull-linux-"+runtime.GOARCH)
		androidsim.RunInWorld(t, 10*time.Minute, androidBinaryEnv+"="+binary)
		return
	}
	w := androidsim.NewWorld(t)
	bin := filepath.Join(w.Prefix, "bin/rootfs-pull")
	w.Install(t, os.Getenv(androidBinaryEnv), bin)
	reg := startRegistry(t, testregistry.Options{})
	_, port, _ := strings.Cut(reg.Host, ":")
	image := "registry.phone.test:" + port + "/team/app"
	pushTag(t, reg.Host, "team/app", "latest", phoneImage(t, "1", ""))
	hub := fakeHub(t)
	_, hubPort, _ := strings.Cut(strings.TrimPrefix(hub.URL, "http://"), ":")
	loop := []netip.Addr{netip.MustParseAddr("127.0.0.1")}

	// app runs rootfs-pull (or argv[0] when it is a path) as the app.
	app := func(t *testing.T, env []string, argv ...string) androidsim.Result {
		t.Helper()
		if !strings.HasPrefix(argv[0], "/") {
			argv = append([]string{bin}, argv...)
		}
		r := w.Exec(t, androidsim.Run{Argv: argv, Env: append(slices.Clone(w.Env), env...), ProotTmp: true, Timeout: 3 * time.Minute})
		if r.SIGSYS {
			t.Fatalf("%q made a system call Android's app policy forbids:\n%s", argv, r.Stderr)
		}
		return r
	}
	pull := func(t *testing.T, env []string, args ...string) jsonResult {
		t.Helper()
		r := app(t, env, append([]string{"--insecure", "--json", "--debug"}, args...)...)
		if r.Code != 0 {
			t.Fatalf("rootfs-pull %q: exit %d\nstderr: %s", args, r.Code, r.Stderr)
		}
		var res jsonResult
		if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
			t.Fatalf("--json: %v: %s", err, r.Stdout)
		}
		if res.Launcher != "" && !filepath.IsAbs(res.Launcher) {
			res.Launcher = filepath.Join(w.Home, res.Launcher) // the runs start in $HOME
		}
		t.Logf("rootfs-pull %q:\n%s", args, r.Stderr)
		return res
	}
	launch := func(t *testing.T, launcher string, env []string, want string) {
		t.Helper()
		r := app(t, env, launcher)
		if r.Code != 0 || r.Stdout != want {
			t.Errorf("%s: exit %d, printed %q, want %q\nstderr: %s", launcher, r.Code, r.Stdout, want, r.Stderr)
		}
	}

	t.Run("netd", func(t *testing.T) {
		netd, err := dnstest.StartNetd(androidsim.NetdSocket, dnstest.Zone{"registry.phone.test": loop, "hub.phone.test": loop})
		if err != nil {
			t.Fatal(err)
		}
		defer netd.Close()
		if err := os.Chmod(androidsim.NetdSocket, 0o666); err != nil { // as on Android: every app may connect
			t.Fatal(err)
		}
		dir := filepath.Join(w.Home, "app")
		res := pull(t, nil, image, dir)
		if len(res.DNS) == 0 || !strings.HasPrefix(res.DNS[0], "netd (") {
			t.Errorf("dns = %q, want netd", res.DNS)
		}
		if netd.Queries() == 0 {
			t.Errorf("the stand-in netd answered nothing")
		}
		b, err := os.ReadFile(res.Launcher)
		if err != nil {
			t.Fatal(err)
		}
		if first, _, _ := strings.Cut(string(b), "\n"); first != "#!"+w.Prefix+"/bin/sh" {
			t.Errorf("the launcher's #! line is %q: there is no /bin/sh on a phone", first)
		}
		launch(t, res.Launcher, nil, "from the phone v1 0\nwhiteout-applied\n")

		pushTag(t, reg.Host, "team/app", "latest", phoneImage(t, "2", ""))
		res = pull(t, nil, "--update", image, dir)
		launch(t, res.Launcher, nil, "from the phone v2 0\nwhiteout-applied\n")

		hubURL := "http://hub.phone.test:" + hubPort
		r := app(t, nil, "search", "--hub-url", hubURL, "alpine")
		if r.Code != 0 || !strings.HasPrefix(r.Stdout, "alpine ") {
			t.Errorf("search: exit %d\n%s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
		}
		r = app(t, nil, "tags", "--hub-url", hubURL, "alpine")
		if r.Code != 0 || !strings.HasPrefix(r.Stdout, "3.20 ") {
			t.Errorf("tags: exit %d\n%s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
		}

		r = app(t, nil, "rm", dir)
		if r.Code != 0 {
			t.Errorf("rm: exit %d: %s", r.Code, r.Stderr)
		}
		for _, p := range []string{dir, res.Launcher} {
			if _, err := os.Lstat(p); !os.IsNotExist(err) {
				t.Errorf("after rm, %s: %v", p, err)
			}
		}
	})

	// Android 7 to 9: netd has no resnsend, only getaddrinfo.
	t.Run("netd-android9", func(t *testing.T) {
		netd, err := dnstest.StartNetdMode(androidsim.NetdSocket, dnstest.Zone{"registry.phone.test": loop}, dnstest.NetdGetaddrinfo)
		if err != nil {
			t.Fatal(err)
		}
		defer netd.Close()
		if err := os.Chmod(androidsim.NetdSocket, 0o666); err != nil {
			t.Fatal(err)
		}
		res := pull(t, nil, image, filepath.Join(w.Home, "by-old-netd"))
		if len(res.DNS) == 0 || !strings.Contains(res.DNS[0], "getaddrinfo") {
			t.Errorf("dns = %q, want netd's getaddrinfo", res.DNS)
		}
		if netd.Lookups() == 0 {
			t.Errorf("the stand-in netd answered no getaddrinfo")
		}
		launch(t, res.Launcher, nil, "from the phone v2 0\nwhiteout-applied\n")
	})

	dnsmasq := func(t *testing.T) {
		t.Helper()
		d, err := dnstest.StartDnsmasqPort(53, "registry.phone.test", []string{"127.0.0.1", "::1"}, 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.Close)
	}
	t.Run("termux-resolv.conf", func(t *testing.T) {
		dnsmasq(t)
		conf := filepath.Join(w.Prefix, "etc/resolv.conf")
		w.WriteFile(t, conf, "nameserver 127.0.0.1\n")
		defer os.Remove(conf)
		res := pull(t, nil, image, filepath.Join(w.Home, "by-termux"))
		if len(res.DNS) != 1 || !strings.Contains(res.DNS[0], conf) {
			t.Errorf("dns = %q, want %s", res.DNS, conf)
		}
		launch(t, res.Launcher, nil, "from the phone v2 0\nwhiteout-applied\n")
	})
	t.Run("ROOTFS_PULL_DNS", func(t *testing.T) {
		dnsmasq(t)
		res := pull(t, []string{"ROOTFS_PULL_DNS=127.0.0.1"}, image, filepath.Join(w.Home, "by-env"))
		if len(res.DNS) != 1 || !strings.Contains(res.DNS[0], "127.0.0.1") {
			t.Errorf("dns = %q, want the forced 127.0.0.1", res.DNS)
		}
		// With no resolver at all, the error names what was tried.
		r := app(t, nil, "inspect", image)
		if r.Code == 0 || !strings.Contains(r.Stderr, "netd") || !strings.Contains(r.Stderr, "ROOTFS_PULL_DNS") {
			t.Errorf("no resolver: exit %d, stderr %q: want one line naming what was tried and what to do", r.Code, r.Stderr)
		}
	})

	// su on a rooted phone: uid 0, no app policy, PATH=/system/bin, where
	// chroot, mount and unshare are toybox's.
	t.Run("rooted-toybox", func(t *testing.T) {
		dnsmasq(t)
		pushTag(t, reg.Host, "team/app", "user", phoneImage(t, "3", "u"))
		env := append(w.RootEnv(), "ROOTFS_PULL_DNS=127.0.0.1")
		root := func(argv ...string) androidsim.Result {
			return w.Exec(t, androidsim.Run{Argv: argv, Env: env, Root: true, Dir: "/data/local/tmp", Timeout: 3 * time.Minute})
		}
		if err := os.MkdirAll("/data/local/tmp", 0o771); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ tag, dir, want string }{
			{"latest", "/data/local/tmp/app", "from the phone v2 0\nwhiteout-applied\n"},
			{"user", "/data/local/tmp/user", "from the phone v3 1000\nwhiteout-applied\n"},
		} {
			r := root(bin, "--insecure", "--json", image+":"+tc.tag, tc.dir)
			if r.Code != 0 {
				t.Fatalf("pull as root: exit %d\n%s", r.Code, r.Stderr)
			}
			var res jsonResult
			if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
				t.Fatal(err)
			}
			if !filepath.IsAbs(res.Launcher) {
				res.Launcher = filepath.Join("/data/local/tmp", res.Launcher)
			}
			b, _ := os.ReadFile(res.Launcher)
			if first, _, _ := strings.Cut(string(b), "\n"); first != "#!/system/bin/sh" {
				t.Errorf("written by su (no $PREFIX), the launcher's #! line is %q, want Android's sh", first)
			}
			r = root(res.Launcher)
			if r.Code != 0 || r.Stdout != tc.want {
				t.Errorf("%s under toybox's chroot: exit %d, printed %q, want %q\nstderr: %s", res.Launcher, r.Code, r.Stdout, tc.want, r.Stderr)
			}
		}
		// toybox's mount made the launcher's namespace private: nothing it
		// mounted is left in the world's.
		if b, err := os.ReadFile("/proc/self/mountinfo"); err != nil || strings.Contains(string(b), "/data/local/tmp/") {
			t.Errorf("mounts left behind by the launcher (%v):\n%s", err, b)
		}
		// The image's user needs a chroot that can switch to it (Termux's
		// coreutils, found above where su's PATH does not lead); without
		// one, one line says what to do rather than run it as root.
		termux := filepath.Join(w.Prefix, "bin/chroot")
		if err := os.Rename(termux, termux+".away"); err != nil {
			t.Fatal(err)
		}
		defer os.Rename(termux+".away", termux)
		r := root("/data/local/tmp/start-user.sh")
		if r.Code != 1 || r.Stdout != "" || strings.Count(r.Stderr, "\n") != 1 || !strings.Contains(r.Stderr, "cannot start the container as user 1000:1000") ||
			!strings.Contains(r.Stderr, "pkg install coreutils") {
			t.Errorf("toybox's chroot only, a user image: exit %d, stdout %q, stderr %q; want one line saying what to install", r.Code, r.Stdout, r.Stderr)
		}
	})
}
