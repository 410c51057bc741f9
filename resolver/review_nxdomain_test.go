package resolver

import (
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// "A name netd says does not exist is not asked elsewhere"
// (TestNetdNotFoundIsFinal): that holds for the name, not only for the
// query netd answered. When netd says NXDOMAIN to the A query but fails
// the AAAA query (its upstream, Private DNS, cut for that one query), a
// later source must not make the name resolve after all.
func TestReviewNetdNotFoundIsFinalForTheName(t *testing.T) {
	for _, order := range []string{"NXDOMAIN first", "failure first"} {
		t.Run(order, func(t *testing.T) {
			c, _ := world(t)
			startFakeNetd(t, c.Socket, func(conn net.Conn, cmd string) {
				q := resnsendQuery(cmd)
				if q == nil {
					return
				}
				switch queryType(q) {
				case dnsmessage.TypeA:
					if order == "failure first" {
						time.Sleep(200 * time.Millisecond)
					}
					writeResnsend(conn, withRCode(t, q, dnsmessage.RCodeNameError))
				case dnsmessage.TypeAAAA:
					if order == "NXDOMAIN first" {
						time.Sleep(200 * time.Millisecond)
					}
					writeResnsend(conn, withRCode(t, q, dnsmessage.RCodeServerFailure))
				}
			})
			other := goodServer(t, 0)
			os.WriteFile(c.TermuxResolvConf, []byte("nameserver "+other.Addr.String()+"\n"), 0644)
			addrs, err := lookup(t, New(c), testName)
			if err == nil {
				t.Fatalf("netd said %s does not exist, yet it resolved to %v through %s", testName, addrs, other.Addr)
			}
		})
	}
}

// A server that answers AAAA queries with NXDOMAIN but A queries with
// addresses (some home routers do) still resolves, as with Go's own
// resolver: the same source said both.
func TestReviewSameSourceNXDOMAINForAAAAOnly(t *testing.T) {
	c, _ := world(t)
	router := startFakeUDP(t, func(q []byte) [][]byte {
		if queryType(q) == dnsmessage.TypeAAAA {
			return [][]byte{withRCode(t, q, dnsmessage.RCodeNameError)}
		}
		return zoneAnswer(q)
	})
	os.WriteFile(c.TermuxResolvConf, []byte("nameserver "+router.Addr.String()+"\n"), 0644)
	addrs, err := lookup(t, New(c), testName)
	if err != nil || !containsAddr(addrs, loop4) {
		t.Fatalf("got %v, %v", addrs, err)
	}
}
