package launcher

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// proot binds the rootfs's /tmp as /dev/shm, and proot follows a symlink
// in a bind's source on the host: an image whose /tmp is a symlink (made
// at pull time, or since) would show and let the container write the
// host directory it names. The launcher checks at run time, the printed
// command when it is printed.
func TestProotShmBindNotThroughSymlink(t *testing.T) {
	bin := fakeRuntimes(t)
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "fs")
	cfg := testConfig()
	cfg.Runtime = Proot
	script := filepath.Join(dir, "start-fs.sh")
	if err := Write(script, rootfs, cfg); err != nil {
		t.Fatal(err)
	}
	mkReady(t, rootfs)
	hostDir := t.TempDir()
	bind := rootfs + "/tmp:/dev/shm"
	for _, tc := range []struct {
		name  string
		setup func(tmp string) error
		bound bool
	}{
		{"directory", func(tmp string) error { return os.Mkdir(tmp, 01777) }, true},
		{"symlink to a host directory", func(tmp string) error { return os.Symlink(hostDir, tmp) }, false},
		{"relative symlink", func(tmp string) error { return os.Symlink("../../"+filepath.Base(hostDir), tmp) }, false},
		{"file", func(tmp string) error { return os.WriteFile(tmp, nil, 0644) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := filepath.Join(rootfs, "tmp")
			os.RemoveAll(tmp)
			if err := tc.setup(tmp); err != nil {
				t.Fatal(err)
			}
			for _, sh := range shells(t) {
				_, errOut, err := runScript(t, sh, script, bin, []string{"ROOTFS_RUNTIME=proot"}, "true")
				if err != nil {
					t.Fatalf("%s: %v: %s", sh[0], err, errOut)
				}
				argv, _ := recorded(t, bin)
				if got := slices.Contains(argv, bind); got != tc.bound {
					t.Errorf("%s: launcher binds %s: %v, want %v\n%q", sh[0], bind, got, tc.bound, argv)
				}
				if !tc.bound && !strings.Contains(errOut, "/dev/shm") {
					t.Errorf("%s: no note about /dev/shm on stderr: %q", sh[0], errOut)
				}
			}
			line, err := Command(Proot, rootfs, cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := slices.Contains(line, bind); got != tc.bound {
				t.Errorf("printed command binds %s: %v, want %v", bind, got, tc.bound)
			}
		})
	}
}

// Under the real proot, an image whose /tmp is a symlink to a host
// directory does not see that directory as /dev/shm.
func TestProotShmSymlinkReal(t *testing.T) {
	if _, err := exec.LookPath("busybox"); err != nil {
		t.Skip("needs busybox")
	}
	if _, err := exec.LookPath("proot"); err != nil {
		t.Fatal("proot is missing: run scripts/setup.sh")
	}
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "fs")
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev"} {
		os.MkdirAll(filepath.Join(rootfs, d), 0755)
	}
	bb, _ := os.ReadFile("/bin/busybox")
	os.WriteFile(filepath.Join(rootfs, "bin/busybox"), bb, 0755)
	hostDir := t.TempDir()
	os.WriteFile(filepath.Join(hostDir, "host-secret"), []byte("x"), 0644)
	os.Symlink(hostDir, filepath.Join(rootfs, "tmp"))
	cfg := testConfig()
	cfg.Runtime, cfg.User, cfg.WorkingDir, cfg.Entrypoint, cfg.Cmd = Proot, User{Home: "/"}, "/", nil, nil
	script := filepath.Join(dir, "start-fs.sh")
	if err := Write(script, rootfs, cfg); err != nil {
		t.Fatal(err)
	}
	mkReady(t, rootfs)
	cmd := exec.Command(script, "/bin/busybox", "ls", "-a", "/dev/shm/")
	cmd.Env = append(os.Environ(), "ROOTFS_RUNTIME=proot")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if strings.Contains(string(out), "host-secret") {
		t.Errorf("the host directory the rootfs's /tmp points to is the container's /dev/shm:\n%s", out)
	}
}
