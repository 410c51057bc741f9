package main

import (
	"context"
	"debug/elf"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/internal/dnstest"
	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
)

// appUID is the Termux app's uid in the Android-like world (u0_a123).
const appUID = 10123

// glibcLinker is Debian's aarch64 loader (libc6-arm64-cross), the stand-in
// for Android's /system/bin/linker64 under qemu: the android build needs
// no library, only a loader that maps a PIE and jumps to it.
const glibcLinker = "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1"

// androidWorldScript runs "$@" as the app ($1) in a private mount
// namespace shaped like a Termux shell's world: no /etc/resolv.conf (it is
// /dev/null, as Android has none) and an empty, read-only /tmp (an app
// cannot write there). Debian's proot has no PROOT_TMP_DIR and always
// writes to /tmp, where Termux's build uses $PREFIX/tmp: for proot's runs
// $2 is $PREFIX/tmp, bound at /tmp. Exit 97: there is no /etc/resolv.conf
// here to hide.
const androidWorldScript = `set -e
uid=$1 proottmp=$2
shift 2
[ -e /etc/resolv.conf ] || exit 97
mount --bind /dev/null /etc/resolv.conf
if [ -n "$proottmp" ]; then
	mount --bind "$proottmp" /tmp
else
	mount -t tmpfs -o ro,mode=755 tmpfs /tmp
fi
exec setpriv --reuid="$uid" --regid="$uid" --clear-groups -- "$@"`

// androidWorld is a Termux app's view of a phone, as far as is cheap on a
// Debian host: see androidWorldScript, and newAndroidWorld for its tree.
type androidWorld struct {
	root    string // everything the world owns
	files   string // .../data/data/com.termux/files
	prefix  string // $PREFIX
	home    string // $HOME
	sysroot string // qemu -L: SYSROOT/system/bin/linker64
	binary  string // the android build, installed as $PREFIX/bin/rootfs-pull
	env     []string
}

// newAndroidWorld lays out the tree: Termux's files under
// ROOT/data/data/com.termux/files owned by the app uid, the android
// binary in $PREFIX/bin, a linker64 for qemu, a stand-in netd socket at
// ROOT/dev/socket/dnsproxyd (0666, as on Android) answering zone, and
// $PREFIX/bin/proot (see below).
func newAndroidWorld(t *testing.T, binary string, zone dnstest.Zone) (*androidWorld, *dnstest.Netd) {
	t.Helper()
	// Not t.TempDir: its parents are 0700, the app must reach this tree;
	// and not under /tmp, which the world hides.
	root, err := os.MkdirTemp("/var/tmp", "rootfs-pull-android-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	w := &androidWorld{root: root, files: filepath.Join(root, "data/data/com.termux/files")}
	w.prefix = filepath.Join(w.files, "usr")
	w.home = filepath.Join(w.files, "home")
	w.sysroot = filepath.Join(root, "sysroot")
	w.binary = filepath.Join(w.prefix, "bin/rootfs-pull")
	for _, d := range []string{w.home, filepath.Join(w.prefix, "tmp"), filepath.Join(w.prefix, "bin"), filepath.Join(w.prefix, "etc"),
		filepath.Join(w.sysroot, "system/bin"), filepath.Join(root, "dev/socket")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, glibcLinker, filepath.Join(w.sysroot, "system/bin/linker64"), 0o755)
	copyFile(t, binary, w.binary, 0o755)

	// This amd64 host stands in for the arm64 phone, where the launcher the
	// android build writes runs the arm64 rootfs natively: Termux's proot
	// here is the real proot with the guest run through qemu-user.
	proot, err := exec.LookPath("proot")
	if err != nil {
		t.Fatal("proot is missing: run scripts/setup.sh")
	}
	qemu, _ := exec.LookPath("qemu-aarch64-static")
	shim := "#!/bin/sh\nexec " + proot + " -q " + qemu + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(w.prefix, "bin/proot"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}
	// Termux's own sh (dash), which a launcher written on Android names
	// in its #! line: there is no /bin/sh on a phone.
	dash, err := exec.LookPath("dash")
	if err != nil {
		t.Fatal("dash is missing (Debian's /bin/sh)")
	}
	if err := os.Symlink(dash, filepath.Join(w.prefix, "bin/sh")); err != nil {
		t.Fatal(err)
	}

	sock := filepath.Join(root, "dev/socket/dnsproxyd")
	netd, err := dnstest.StartNetd(sock, zone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(netd.Close)
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}

	err = filepath.Walk(filepath.Join(root, "data"), func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, appUID, appUID)
	})
	if err != nil {
		t.Fatal(err)
	}
	w.env = []string{
		"PATH=" + filepath.Join(w.prefix, "bin") + ":/usr/bin:/bin",
		"HOME=" + w.home, "PREFIX=" + w.prefix, "TMPDIR=" + filepath.Join(w.prefix, "tmp"),
		"ANDROID_ROOT=/system", "ANDROID_DATA=/data", "TERMUX_VERSION=0.118.0", "LANG=en_US.UTF-8",
		"ROOTFS_PULL_TEST_DNSPROXYD=" + sock,
		// the public resolvers, the last resort, are a dead loopback port:
		// nothing leaves the machine
		"ROOTFS_PULL_TEST_PUBLIC_DNS=127.0.0.1:9",
	}
	return w, netd
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}

// run runs argv as the app inside the world, bounded by timeout; proot
// says whether proot runs there (see androidWorldScript).
func (w *androidWorld) run(t *testing.T, timeout time.Duration, proot bool, argv ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	proottmp := ""
	if proot {
		proottmp = filepath.Join(w.prefix, "tmp")
	}
	args := append([]string{"-m", "sh", "-c", androidWorldScript, "sh", strconv.Itoa(appUID), proottmp}, argv...)
	cmd := exec.CommandContext(ctx, "unshare", args...)
	cmd.Env = w.env
	cmd.Dir = "/"
	cmd.WaitDelay = 5 * time.Second
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	if cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == 97 {
		t.Skip("skipped: this host has no /etc/resolv.conf to hide")
	}
	if ctx.Err() != nil {
		t.Fatalf("%q timed out after %v\nstdout: %s\nstderr: %s", argv, timeout, o.String(), e.String())
	}
	return o.String(), e.String(), err
}

// rootfsPull runs the android build under qemu with the linker64 shim.
func (w *androidWorld) rootfsPull(t *testing.T, timeout time.Duration, args ...string) (string, string, error) {
	t.Helper()
	qemu, _ := exec.LookPath("qemu-aarch64-static")
	return w.run(t, timeout, false, append([]string{qemu, "-L", w.sysroot, w.binary}, args...)...)
}

// The android/arm64 release binary, as a Termux user runs it: a PIE for
// Android's linker with no libraries; in a world with no
// /etc/resolv.conf, HOME and PREFIX under /data/data/com.termux/files,
// TMPDIR=$PREFIX/tmp, /tmp read-only and an app uid, it reaches a
// registry by a name only netd (a stand-in dnsproxyd speaking resnsend)
// can resolve: --version, inspect, a pull of an arm64 image picked from a
// multi-platform index, and its launcher under proot prints from inside.
//
// The network is still the host's (the registry listens on 127.0.0.1 in
// this process; a loopback-only network namespace would need it to run in
// there); the public-resolver fallback is pointed at a dead loopback port.
func TestAndroidReleaseEndToEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: the Android-like world needs root (a private mount namespace, an app uid); CI runs this as root")
	}
	for _, p := range []string{"unshare", "setpriv", "qemu-aarch64-static", "proot"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s is missing: run scripts/setup.sh", p)
		}
	}
	if _, err := os.Stat(glibcLinker); err != nil {
		t.Fatalf("no aarch64 loader to stand in for linker64: run scripts/setup.sh (libc6-arm64-cross): %v", err)
	}
	binary := filepath.Join(releaseBinaries(t), "rootfs-pull-android-arm64")
	checkAndroidELF(t, binary)

	reg := startRegistry(t, testregistry.Options{})
	_, port, _ := strings.Cut(reg.Host, ":")
	image := "registry.phone.test:" + port + "/demo/phone"
	pushPhoneImage(t, reg.Host, "demo/phone")

	w, netd := newAndroidWorld(t, binary, dnstest.Zone{"registry.phone.test": {netip.MustParseAddr("127.0.0.1")}})

	out, errOut, err := w.rootfsPull(t, time.Minute, "--version")
	if err != nil || !strings.Contains(out, testVersion) || !strings.Contains(out, "android/arm64") {
		t.Fatalf("--version: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	t.Logf("--version: %s", strings.TrimSpace(out))

	out, errOut, err = w.rootfsPull(t, 2*time.Minute, "inspect", "--insecure", "--json", image)
	if err != nil {
		t.Fatalf("inspect %s by the name only netd knows: %v\nstderr: %s", image, err, errOut)
	}
	var ins struct{ Platform string }
	if err := json.Unmarshal([]byte(out), &ins); err != nil {
		t.Fatalf("inspect --json: %v: %s", err, out)
	}
	if !strings.HasPrefix(ins.Platform, "linux/arm64") {
		t.Errorf("inspect picked %q on an arm64 phone, want linux/arm64", ins.Platform)
	}

	dir := filepath.Join(w.home, "phone")
	out, errOut, err = w.rootfsPull(t, 3*time.Minute, "--insecure", "--json", "--debug", image, dir)
	if err != nil {
		t.Fatalf("pull %s: %v\nstderr: %s", image, err, errOut)
	}
	var res jsonResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("pull --json: %v: %s", err, out)
	}
	if len(res.DNS) != 1 || !strings.HasPrefix(res.DNS[0], "netd (") {
		t.Errorf("dns = %q, want the stand-in netd", res.DNS)
	}
	if !strings.Contains(errOut, "debug: dns: registry.phone.test") || !strings.Contains(errOut, "netd") {
		t.Errorf("pull --debug does not say netd answered:\n%s", errOut)
	}
	if !strings.HasPrefix(res.Platform, "linux/arm64") {
		t.Errorf("pulled %q, want linux/arm64", res.Platform)
	}
	if res.Launcher == "" {
		t.Fatalf("no launcher written: %s", out)
	}
	if n := netd.Queries(); n == 0 {
		t.Errorf("the stand-in netd answered no query")
	}
	// Written on Android, the launcher names Termux's sh: no /bin/sh there.
	if b, err := os.ReadFile(filepath.Join("/", res.Launcher)); err == nil { // the runs work in /
		if first, _, _ := strings.Cut(string(b), "\n"); first != "#!"+filepath.Join(w.prefix, "bin/sh") {
			t.Errorf("launcher's first line %q, want #!$PREFIX/bin/sh", first)
		}
	} else {
		t.Errorf("read the launcher: %v", err)
	}

	out, errOut, err = w.run(t, 2*time.Minute, true, res.Launcher, "from", "the phone")
	if err != nil {
		t.Fatalf("launcher %s: %v\nstdout: %s\nstderr: %s", res.Launcher, err, out, errOut)
	}
	t.Logf("pulled %s by %s; the launcher printed %q", res.Platform, res.DNS, out)
	if want := "inside rootfs-pull phone (linux/arm64 on aarch64): [from|the phone]\n"; out != want {
		t.Errorf("launcher printed %q, want %q\nstderr: %s", out, want, errOut)
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
