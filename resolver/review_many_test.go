package resolver

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// Thousands of servers (a resolv.conf full of nameserver lines, or a
// long ROOTFS_PULL_DNS) must not make every failed lookup ask thousands
// of servers and print a message of hundreds of kilobytes.
func TestReviewManyServersBounded(t *testing.T) {
	c, _ := world(t)
	var b strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&b, "nameserver 127.0.0.%d:%d\n", 1+i%200, 1+i)
	}
	if err := os.WriteFile(c.TermuxResolvConf, []byte(b.String()), 0644); err != nil {
		t.Fatal(err)
	}
	r := New(c)
	if d := r.Describe(); len(d) > 1000 {
		t.Errorf("Describe is %d bytes", len(d))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := r.LookupNetIP(ctx, "ip", testName)
	if err == nil {
		t.Fatal("no server, yet an answer")
	}
	if len(err.Error()) > 2000 {
		t.Errorf("the error is %d bytes long", len(err.Error()))
	}
	list := make([]string, 10000)
	for i := range list {
		list[i] = fmt.Sprintf("127.0.0.1:%d", 1+i)
	}
	t.Setenv(EnvServers, strings.Join(list, ","))
	env, err := FromEnv(nil)
	if err == nil && len(env.Servers) > 16 {
		t.Errorf("%s with 10000 servers: %d servers taken, no error", EnvServers, len(env.Servers))
	}
}
