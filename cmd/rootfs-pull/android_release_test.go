package main

import (
	"context"
	"debug/elf"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/internal/androidsim"
	"github.com/rootfs-pull/rootfs-pull/internal/dnstest"
	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
)

// glibcLinker is Debian's aarch64 loader (libc6-arm64-cross), the stand-in
// for Android's /system/bin/linker64 under qemu: the android build needs
// no library, only a loader that maps a PIE and jumps to it.
const glibcLinker = "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1"

// androidBinaryEnv hands a release build, made outside the world (whose
// missing /bin/sh the build script needs), to the test run inside it.
const androidBinaryEnv = "ROOTFS_PULL_TEST_ANDROID_BINARY"

// The android/arm64 release binary, as a Termux user runs it, in the
// Android world (internal/androidsim: loopback-only network, no
// /etc/resolv.conf, no /bin/sh, Termux's tree at its place, the app's uid
// under Android's app seccomp policy): a PIE for /system/bin/linker64 with
// no libraries, run by qemu-user, reaches a registry by a name only netd
// (a stand-in on /dev/socket/dnsproxyd speaking resnsend) can resolve:
// --version, inspect, a pull of the arm64 image of a multi-platform index,
// and its launcher under proot prints from inside. This amd64 host stands
// in for the arm64 phone: Termux's proot here runs the guest through qemu.
func TestAndroidReleaseEndToEnd(t *testing.T) {
	if !androidsim.InWorld() {
		if os.Geteuid() != 0 {
			t.Skip("skipped: the Android world needs root (namespaces, an app uid); CI runs it as root")
		}
		for _, p := range []string{"qemu-aarch64-static", "proot"} {
			if _, err := exec.LookPath(p); err != nil {
				t.Fatalf("%s is missing: run scripts/setup.sh", p)
			}
		}
		if _, err := os.Stat(glibcLinker); err != nil {
			t.Fatalf("no aarch64 loader to stand in for linker64: run scripts/setup.sh (libc6-arm64-cross): %v", err)
		}
		binary := filepath.Join(releaseBinaries(t), "rootfs-pull-android-arm64")
		checkAndroidELF(t, binary)
		androidsim.RunInWorld(t, 10*time.Minute, androidBinaryEnv+"="+binary)
		return
	}
	w := androidsim.NewWorld(t)
	bin := filepath.Join(w.Prefix, "bin/rootfs-pull")
	w.Install(t, os.Getenv(androidBinaryEnv), bin)
	w.Install(t, glibcLinker, "/system/bin/linker64")
	qemu, err := exec.LookPath("qemu-aarch64-static")
	if err != nil {
		t.Fatal(err)
	}
	proot, err := exec.LookPath("proot")
	if err != nil {
		t.Fatal(err)
	}
	// Termux's proot on the arm64 phone runs the arm64 rootfs natively:
	// here the real proot runs it through qemu-user.
	os.Remove(filepath.Join(w.Prefix, "bin/proot"))
	w.WriteFile(t, filepath.Join(w.Prefix, "bin/proot"), "#!"+w.Prefix+"/bin/sh\nexec "+proot+" -q "+qemu+" \"$@\"\n")
	os.Chmod(filepath.Join(w.Prefix, "bin/proot"), 0o755)

	reg := startRegistry(t, testregistry.Options{})
	_, port, _ := strings.Cut(reg.Host, ":")
	image := "registry.phone.test:" + port + "/demo/phone"
	pushPhoneImage(t, reg.Host, "demo/phone")
	netd, err := dnstest.StartNetd(androidsim.NetdSocket, dnstest.Zone{"registry.phone.test": {netip.MustParseAddr("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	defer netd.Close()
	if err := os.Chmod(androidsim.NetdSocket, 0o666); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, proot bool, argv ...string) androidsim.Result {
		t.Helper()
		r := w.Exec(t, androidsim.Run{Argv: argv, Env: w.Env, ProotTmp: proot, Timeout: 3 * time.Minute})
		if r.SIGSYS {
			t.Fatalf("%q made a system call Android's app policy forbids:\n%s", argv, r.Stderr)
		}
		return r
	}
	rootfsPull := func(t *testing.T, args ...string) androidsim.Result {
		t.Helper()
		// qemu finds the interpreter, /system/bin/linker64, under -L /.
		return run(t, false, append([]string{qemu, "-L", "/", bin}, args...)...)
	}

	r := rootfsPull(t, "--version")
	if r.Code != 0 || !strings.Contains(r.Stdout, testVersion) || !strings.Contains(r.Stdout, "android/arm64") {
		t.Fatalf("--version: exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	}
	t.Logf("--version: %s", strings.TrimSpace(r.Stdout))

	r = rootfsPull(t, "inspect", "--insecure", "--json", image)
	if r.Code != 0 {
		t.Fatalf("inspect %s by the name only netd knows: exit %d\nstderr: %s", image, r.Code, r.Stderr)
	}
	var ins struct{ Platform string }
	if err := json.Unmarshal([]byte(r.Stdout), &ins); err != nil {
		t.Fatalf("inspect --json: %v: %s", err, r.Stdout)
	}
	if !strings.HasPrefix(ins.Platform, "linux/arm64") {
		t.Errorf("inspect picked %q on an arm64 phone, want linux/arm64", ins.Platform)
	}

	dir := filepath.Join(w.Home, "phone")
	r = rootfsPull(t, "--insecure", "--json", "--debug", image, dir)
	if r.Code != 0 {
		t.Fatalf("pull %s: exit %d\nstderr: %s", image, r.Code, r.Stderr)
	}
	var res jsonResult
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
		t.Fatalf("pull --json: %v: %s", err, r.Stdout)
	}
	if len(res.DNS) == 0 || !strings.HasPrefix(res.DNS[0], "netd (") {
		t.Errorf("dns = %q, want the stand-in netd", res.DNS)
	}
	if !strings.Contains(r.Stderr, "debug: dns: registry.phone.test") || !strings.Contains(r.Stderr, "netd") {
		t.Errorf("pull --debug does not say netd answered:\n%s", r.Stderr)
	}
	if !strings.HasPrefix(res.Platform, "linux/arm64") {
		t.Errorf("pulled %q, want linux/arm64", res.Platform)
	}
	if res.Launcher == "" {
		t.Fatalf("no launcher written: %s", r.Stdout)
	}
	if !filepath.IsAbs(res.Launcher) {
		res.Launcher = filepath.Join(w.Home, res.Launcher) // the runs start in $HOME
	}
	if n := netd.Queries(); n == 0 {
		t.Errorf("the stand-in netd answered no query")
	}
	// Written on Android, the launcher names Termux's sh: no /bin/sh there.
	if b, err := os.ReadFile(res.Launcher); err == nil {
		if first, _, _ := strings.Cut(string(b), "\n"); first != "#!"+filepath.Join(w.Prefix, "bin/sh") {
			t.Errorf("launcher's first line %q, want #!$PREFIX/bin/sh", first)
		}
	} else {
		t.Errorf("read the launcher: %v", err)
	}

	r = run(t, true, res.Launcher, "from", "the phone")
	if r.Code != 0 {
		t.Fatalf("launcher %s: exit %d\nstdout: %s\nstderr: %s", res.Launcher, r.Code, r.Stdout, r.Stderr)
	}
	t.Logf("pulled %s by %s; the launcher printed %q", res.Platform, res.DNS, r.Stdout)
	if want := "inside rootfs-pull phone (linux/arm64 on aarch64): [from|the phone]\n"; r.Stdout != want {
		t.Errorf("launcher printed %q, want %q\nstderr: %s", r.Stdout, want, r.Stderr)
	}
}

// checkAndroidELF: the android build is an arm64 PIE whose interpreter is
// Android's linker64 and that needs no shared library.
func checkAndroidELF(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 || f.Type != elf.ET_DYN {
		t.Errorf("machine %v, type %v: want an arm64 PIE", f.Machine, f.Type)
	}
	interp := ""
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			p.ReadAt(b, 0)
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	if interp != "/system/bin/linker64" {
		t.Errorf("interpreter %q, want /system/bin/linker64", interp)
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) != 0 {
		t.Errorf("needs libraries %q (%v), want none", libs, err)
	}
}

// pushPhoneImage pushes name:latest, an index whose arm64 image runs
// /bin/inside (built here for arm64; no arm64 busybox is installed) and
// whose amd64 image has no program, so only the right pick can run.
func pushPhoneImage(t *testing.T, host, name string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "inside")
	build := exec.Command("go", "build", "-o", bin, "./testdata/inside")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the arm64 test program: %v\n%s", err, out)
	}
	inside, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	arm64 := testimage.Build(testimage.Spec{
		Platform: ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"},
		Config:   ocispec.ImageConfig{Entrypoint: []string{"/bin/inside"}, Cmd: []string{"default"}},
		Layers: []testimage.Layer{
			{Tar: testimage.Tar(testimage.Dir("bin/"), testimage.Exec("bin/inside", string(inside)), testimage.Dir("tmp/")), Compression: testimage.Gzip},
			{Tar: testimage.Tar(testimage.Dir("etc/"), testimage.File("etc/os-release", "NAME=\"rootfs-pull phone\"\n"),
				testimage.File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")), Compression: testimage.Zstd},
		},
	})
	amd64 := testimage.Build(testimage.Spec{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Layers:   []testimage.Layer{{Tar: testimage.Tar(testimage.File("platform", "amd64")), Compression: testimage.Gzip}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := (testimage.Pusher{Host: host}).PushIndex(ctx, name, "latest", false, amd64, arm64); err != nil {
		t.Fatal(err)
	}
}
