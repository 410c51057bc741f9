package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rootfs-pull/rootfs-pull/internal/dnstest"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
)

// hideResolvConf runs a command in a private mount namespace where
// /etc/resolv.conf is /dev/null, as on Android (issue 15's repro).
const hideResolvConf = `[ -e /etc/resolv.conf ] && mount --bind /dev/null /etc/resolv.conf || exit 97; exec "$@"`

// buildCGOless builds the CLI as releases are: CGO_ENABLED=0, so Go's
// own resolver (which reads /etc/resolv.conf) is the one linked in.
func buildCGOless(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rootfs-pull")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// The real binary pulls by a name only rootfs-pull's resolver can
// resolve, with /etc/resolv.conf hidden: through a stand-in netd, through
// Termux's resolv.conf pointing at dnsmasq, and through ROOTFS_PULL_DNS.
func TestPullWithoutResolvConf(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("hiding /etc/resolv.conf needs a private mount namespace (root); CI runs this as root")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare (util-linux)")
	}
	bin := buildCGOless(t)
	reg := startRegistry(t, testregistry.Options{})
	push(t, reg.Host, "demo/dns", smallImage())
	_, port, _ := strings.Cut(reg.Host, ":")
	image := "registry.phone.test:" + port + "/demo/dns"

	d, err := dnstest.StartDnsmasq("registry.phone.test", []string{"127.0.0.1", "::1"}, 2*time.Minute)
	if errors.Is(err, dnstest.ErrNoDnsmasq) {
		t.Skip("skipped: dnsmasq is not installed (scripts/setup.sh installs it)")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	tests := []struct {
		name  string
		setup func(t *testing.T, env map[string]string)
		want  string // in the --json "dns" field
	}{
		{"netd", func(t *testing.T, env map[string]string) {
			sock := filepath.Join(t.TempDir(), "dnsproxyd")
			netd, err := dnstest.StartNetd(sock, dnstest.Zone{"registry.phone.test": {netip.MustParseAddr("127.0.0.1")}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(netd.Close)
			env["ROOTFS_PULL_TEST_DNSPROXYD"] = sock
		}, "netd ("},
		{"termux resolv.conf", func(t *testing.T, env map[string]string) {
			os.MkdirAll(filepath.Join(env["PREFIX"], "etc"), 0755)
			os.WriteFile(filepath.Join(env["PREFIX"], "etc/resolv.conf"), []byte("nameserver "+d.Addr+"\n"), 0644)
		}, d.Addr + " (from "},
		{"ROOTFS_PULL_DNS", func(t *testing.T, env map[string]string) {
			env["ROOTFS_PULL_DNS"] = d.Addr
		}, d.Addr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			env := map[string]string{
				"PATH": os.Getenv("PATH"), "HOME": tmp, "DOCKER_CONFIG": tmp,
				"PREFIX": filepath.Join(tmp, "usr"), "ROOTFS_PULL_CACHE_DIR": filepath.Join(tmp, "cache"),
				// never the real public resolvers: a dead loopback port
				"ROOTFS_PULL_TEST_PUBLIC_DNS": "127.0.0.1:9",
			}
			tt.setup(t, env)
			dir := filepath.Join(tmp, "rootfs")
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "unshare", "-m", "sh", "-c", hideResolvConf, "sh",
				bin, "--insecure", "--json", "--debug", "--launcher", "-", image, dir)
			for k, v := range env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == 97 {
				t.Skip("this host has no /etc/resolv.conf to hide")
			}
			if err != nil {
				t.Fatalf("pull: %v\nstderr: %s", err, stderr.String())
			}
			var res struct{ DNS []string }
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("--json: %v: %s", err, out)
			}
			if len(res.DNS) != 1 || !strings.HasPrefix(res.DNS[0], tt.want) {
				t.Errorf("dns = %q, want one starting %q", res.DNS, tt.want)
			}
			if !strings.Contains(stderr.String(), "debug: dns: registry.phone.test") {
				t.Errorf("no --debug line naming who answered:\n%s", stderr.String())
			}
			if b, err := os.ReadFile(filepath.Join(dir, "etc/hello")); err != nil || string(b) != "hello\n" {
				t.Errorf("etc/hello: %q, %v", b, err)
			}
		})
	}
}
