package resolver

import (
	"fmt"
	"strings"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
)

// LookupError is a name that could not be resolved: what was asked, how
// each source failed, and (Hint) what to do. It unwraps to Go's
// *net.DNSError.
type LookupError struct {
	Host       string
	Asked      string    // the sources, in order (Resolver.Describe)
	Tried      []Attempt // the sources that did not answer
	AnsweredBy string    // set when a source answered that the name does not exist
	System     bool      // the host's own resolver was used
	Forced     bool      // the servers were forced (ROOTFS_PULL_DNS, --dns-server)
	NotFound   bool      // the name does not exist
	Err        error
}

func (e *LookupError) Error() string {
	host := safetext.Cut(e.Host, 80)
	switch {
	case e.System:
		return e.Err.Error()
	case e.NotFound && e.AnsweredBy == "":
		// Go's resolver decided alone: not a DNS name (or one DNS must
		// not be asked about, as .onion).
		return fmt.Sprintf("lookup %s: no such host (not a name any DNS server was asked about)", host)
	case e.NotFound:
		return fmt.Sprintf("lookup %s: no such host (answered by %s)", host, e.AnsweredBy)
	case len(e.Tried) == 0:
		return fmt.Sprintf("lookup %s: %v (asked %s)", host, e.Err, e.Asked)
	}
	parts := make([]string, len(e.Tried))
	for i, t := range e.Tried {
		parts[i] = t.Source + ": " + t.Err.Error()
	}
	return fmt.Sprintf("lookup %s: no DNS server answered (%s)", host, strings.Join(parts, "; "))
}

func (e *LookupError) Unwrap() error { return e.Err }

// Hint says what to do about e, in a few words.
func (e *LookupError) Hint() string {
	switch {
	case e.NotFound && strings.HasSuffix(e.AnsweredBy, viaGetaddrinfo):
		return "check the name; netd on Android 9 and older also says this when the phone's DNS servers do not answer: " +
			"then check your network, or set ROOTFS_PULL_DNS=IP (or --dns-server IP) to a DNS server you can reach"
	case e.NotFound:
		return "check the name"
	case e.System:
		return "check the name and your network"
	case e.Forced:
		return "check that the DNS servers set by --dns-server or ROOTFS_PULL_DNS answer from here, or unset them"
	}
	return "this system has no usable /etc/resolv.conf (as on Android), and none of the DNS servers rootfs-pull falls back to answered: " +
		"set ROOTFS_PULL_DNS=IP (or --dns-server IP) to a DNS server you can reach (your router's, or 9.9.9.9)"
}
