package resolver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/net/dns/dnsmessage"
)

// errNotAnswerable: a source cannot answer this kind of query (netd's
// getaddrinfo knows only addresses); the next source is asked, and the
// source is not counted as failing.
var errNotAnswerable = errors.New("cannot answer this query")

// synthTTL is the TTL of answers made from getaddrinfo's addresses,
// which carry none: short, as the phone's own cache decides.
const synthTTL = 30

// getaddrinfoExchange answers a DNS query for A or AAAA records with
// netd's getaddrinfo, so that Go's resolver, behind it, keeps its own
// logic (search list, hosts file, both families): the answer has the
// query's ID and question, recursion available, and one record per
// address.
//
// When netd says EAI_NODATA (no address of that family, or, in Android 7
// to 9, no such name) the answer is NOERROR with no records, and
// EAI_NONAME gives NXDOMAIN: either way Go reports "no such host",
// answered by netd, as with resnsend. Other failures are errors, so the
// next source is asked.
func (n *netd) getaddrinfoExchange(ctx context.Context, query []byte) ([]byte, error) {
	h, q, err := addressQuestion(query)
	if err != nil {
		return nil, err
	}
	family := afInet
	if q.Type == dnsmessage.TypeAAAA {
		family = afInet6
	}
	addrs, err := getaddrinfo(ctx, n.socket, q.Name.String(), family)
	rcode := dnsmessage.RCodeSuccess
	var eai eaiError
	switch {
	case err == nil:
	case errors.As(err, &eai) && eai == eaiNodata:
	case errors.As(err, &eai) && eai == eaiNoname:
		rcode = dnsmessage.RCodeNameError
	default:
		return nil, err
	}
	return synthAnswer(h, q, rcode, addrs)
}

// addressQuestion reads a query with one question, for A or AAAA
// records, class IN; other queries are errNotAnswerable.
func addressQuestion(query []byte) (dnsmessage.Header, dnsmessage.Question, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return h, dnsmessage.Question{}, fmt.Errorf("%w: %v", errNotAnswerable, err)
	}
	q, err := p.Question()
	if err != nil || h.Response || h.OpCode != 0 {
		return h, q, fmt.Errorf("%w: not a standard query", errNotAnswerable)
	}
	if _, err := p.Question(); !errors.Is(err, dnsmessage.ErrSectionDone) {
		return h, q, fmt.Errorf("%w: more than one question", errNotAnswerable)
	}
	if q.Class != dnsmessage.ClassINET || (q.Type != dnsmessage.TypeA && q.Type != dnsmessage.TypeAAAA) {
		return h, q, fmt.Errorf("%w: netd's getaddrinfo answers only A and AAAA queries", errNotAnswerable)
	}
	return h, q, nil
}

// synthAnswer builds the answer to question q of a query with header h:
// rcode, and an A or AAAA record for each address of q's type.
func synthAnswer(h dnsmessage.Header, q dnsmessage.Question, rcode dnsmessage.RCode, addrs []netip.Addr) ([]byte, error) {
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), dnsmessage.Header{
		ID:                 h.ID,
		Response:           true,
		RecursionDesired:   h.RecursionDesired,
		RecursionAvailable: true,
		RCode:              rcode,
	})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: synthTTL}
	for _, a := range addrs {
		var err error
		switch {
		case q.Type == dnsmessage.TypeA && a.Is4():
			err = b.AResource(rh, dnsmessage.AResource{A: a.As4()})
		case q.Type == dnsmessage.TypeAAAA && a.Is6():
			err = b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()})
		}
		if err != nil {
			return nil, err
		}
	}
	return b.Finish()
}
