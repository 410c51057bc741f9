package pull_test

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/internal/dnstest"
	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
	"github.com/rootfs-pull/rootfs-pull/pull"
	"github.com/rootfs-pull/rootfs-pull/registry"
	"github.com/rootfs-pull/rootfs-pull/resolver"
)

// phone is a resolver as on Android: no resolv.conf, nothing public to
// fall back to, netd (if any) at socket.
func phone(t *testing.T, socket string) *resolver.Resolver {
	dir := t.TempDir()
	return resolver.New(resolver.Config{
		ResolvConf:       filepath.Join(dir, "resolv.conf"),
		Socket:           socket,
		TermuxResolvConf: "-",
		Public:           []netip.AddrPort{},
	})
}

// A pull by a name only netd can resolve: the registry client asks the
// resolver it is given, not Go's default one.
func TestPullByNameThroughNetd(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	push(t, reg, "test/dns", "v1", testimage.Build(testimage.Spec{Layers: baseLayers(testimage.Gzip)}))
	sock := filepath.Join(t.TempDir(), "dnsproxyd")
	netd, err := dnstest.StartNetd(sock, dnstest.Zone{"registry.phone.test": {netip.MustParseAddr("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	defer netd.Close()
	_, port, _ := strings.Cut(reg.Host, ":")
	r := phone(t, sock)
	dir := filepath.Join(t.TempDir(), "rootfs")
	c := newClient(t, registry.Options{Insecure: true, Resolver: r})
	if _, err := pull.Pull(ctx(t), c, pull.Options{Image: "registry.phone.test:" + port + "/test/dns:v1", Dir: dir}); err != nil {
		t.Fatalf("pull: %v", err)
	}
	checkBaseTree(t, dir)
	if got := r.Answered(); len(got) != 1 || !strings.HasPrefix(got[0], "netd") {
		t.Errorf("answered by %q, want netd", got)
	}
}

// Without any working resolver the message says what was asked and what
// to do, not "check your network".
func TestPullExplainsMissingResolver(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rootfs")
	sock := filepath.Join(t.TempDir(), "dnsproxyd") // nothing there
	c := newClient(t, registry.Options{Resolver: phone(t, sock), Retry: registry.RetryPolicy{Attempts: 1}})
	o := pull.Options{Image: "registry.phone.test/test/dns:v1", Dir: dir}
	_, err := pull.Pull(ctx(t), c, o)
	if err == nil {
		t.Fatal("pull succeeded")
	}
	msg := pull.Explain(err, o)
	for _, want := range []string{"registry.phone.test", "netd (" + sock + ")", "ROOTFS_PULL_DNS", "--dns-server"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "your network") {
		t.Errorf("message %q blames the network", msg)
	}
}
