package resolver

import (
	"testing"
)

// Forcing servers and giving none (--dns-server "", a ROOTFS_PULL_DNS of
// only commas: a script's unset variable) is an error, not silently the
// fallback chain the user meant to replace.
func TestReviewForcedButEmpty(t *testing.T) {
	t.Setenv(EnvTestSocket, "")
	t.Setenv(EnvServers, "")
	for _, flags := range [][]string{{""}, {","}, {" , "}} {
		c, err := FromEnv(flags)
		if err == nil && len(c.Servers) == 0 {
			t.Errorf("--dns-server %q: no server and no error: the fallback chain is asked", flags)
		}
	}
	t.Setenv(EnvServers, " , ")
	if c, err := FromEnv(nil); err == nil && len(c.Servers) == 0 {
		t.Errorf("%s=\" , \": no server and no error", EnvServers)
	}
}
