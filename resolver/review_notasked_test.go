package resolver

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// A name Go's resolver refuses without asking anyone (not a DNS name,
// an .onion name) is "no such host", but no source answered that: the
// message must not say one did.
func TestReviewNotAskedIsNotAnswered(t *testing.T) {
	c, _ := world(t)
	good := goodServer(t, 0)
	c.Servers = []netip.AddrPort{good.Addr}
	r := New(c)
	for _, host := range []string{"bad name!.test", "registry.onion", strings.Repeat("a", 300) + ".test"} {
		_, err := lookup(t, r, host)
		var le *LookupError
		if !errors.As(err, &le) {
			t.Fatalf("%q: %v", host, err)
		}
		if strings.Contains(err.Error(), "answered by") || le.AnsweredBy != "" {
			t.Errorf("%q: %q: no server was asked", host, err)
		}
	}
	if good.Queries() != 0 {
		t.Errorf("%d queries sent", good.Queries())
	}
}
