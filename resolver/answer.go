package resolver

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// checkAnswer reports why ans, a source's answer to query, is not one
// Go's resolver would take from a DNS server: then the source has not
// answered, and the next one is asked. Go's resolver asks its next
// server in these cases, but its next server is this same chain (and
// its first source); so the chain makes the checks Go makes (dnsclient_unix.go:
// checkResponse, checkHeader and the parsing of the answer records) before it
// passes an answer on:
//
//   - a response, with the query's ID and, as its only question, the
//     query's (name compared without regard to case);
//   - not truncated (a source that speaks TCP asked over it already);
//   - rcode success or "no such name" (with EDNS's extended bits);
//   - not a lame referral (success, no record, no recursion, not
//     authoritative);
//   - on success, answer records that parse.
//
// Beyond those, nothing is checked: an answer Go takes (a "no such name"
// with an odd authority section, say) is final, as it would be from a
// server.
func checkAnswer(query, ans []byte) error {
	var qp dnsmessage.Parser
	qh, err := qp.Start(query)
	if err != nil {
		return fmt.Errorf("malformed query: %v", err)
	}
	qq, err := qp.Question()
	if err != nil {
		return fmt.Errorf("malformed query: %v", err)
	}
	var p dnsmessage.Parser
	h, err := p.Start(ans)
	if err != nil {
		return errors.New("malformed answer")
	}
	if !h.Response || h.ID != qh.ID {
		return errors.New("answer to another query")
	}
	q, err := p.Question()
	if err != nil {
		return errors.New("malformed answer (its question)")
	}
	if !sameQuestion(q, qq) {
		return errors.New("answer to another question")
	}
	if _, err := p.Question(); !errors.Is(err, dnsmessage.ErrSectionDone) {
		return errors.New("answer with more than one question")
	}
	if h.Truncated {
		return errors.New("truncated answer")
	}
	rcode, hasAdd := extendedRCode(p, h)
	switch rcode {
	case dnsmessage.RCodeNameError:
		return nil
	case dnsmessage.RCodeSuccess:
	case dnsmessage.RCodeServerFailure:
		return errors.New("server failure")
	case dnsmessage.RCodeRefused:
		return errors.New("refused")
	default:
		return fmt.Errorf("answered with error code %d", rcode)
	}
	n := 0
	for ; ; n++ {
		rh, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			break
		}
		if err != nil {
			return errors.New("malformed answer (its records)")
		}
		switch rh.Type {
		case dnsmessage.TypeA:
			_, err = p.AResource()
		case dnsmessage.TypeAAAA:
			_, err = p.AAAAResource()
		case dnsmessage.TypeCNAME:
			_, err = p.CNAMEResource()
		default:
			err = p.SkipAnswer()
		}
		if err != nil {
			return errors.New("malformed answer (its records)")
		}
	}
	if n == 0 && !h.Authoritative && !h.RecursionAvailable && !hasAdd {
		return errors.New("lame referral (no recursion)")
	}
	return nil
}

// extendedRCode is the answer's rcode with EDNS's extended bits, and
// whether it has additional records, as Go's resolver reads them
// (extractExtendedRCode): p is read from a copy.
func extendedRCode(p dnsmessage.Parser, h dnsmessage.Header) (dnsmessage.RCode, bool) {
	p.SkipAllAnswers()
	p.SkipAllAuthorities()
	hasAdd := false
	for {
		ah, err := p.AdditionalHeader()
		if err != nil {
			return h.RCode, hasAdd
		}
		hasAdd = true
		if ah.Type == dnsmessage.TypeOPT {
			return ah.ExtendedRCode(h.RCode), hasAdd
		}
		if err := p.SkipAdditional(); err != nil {
			return h.RCode, hasAdd
		}
	}
}

// sameQuestion reports whether a and b ask the same, names compared
// without regard to ASCII case.
func sameQuestion(a, b dnsmessage.Question) bool {
	return a.Type == b.Type && a.Class == b.Class && strings.EqualFold(a.Name.String(), b.Name.String())
}

// answers reports whether msg, received for query, answers it: a
// response with its ID and its question. A datagram that does not is
// skipped, as Go's resolver skips it.
func answers(query, msg []byte) bool {
	var qp, p dnsmessage.Parser
	qh, err := qp.Start(query)
	if err != nil {
		return false
	}
	qq, err := qp.Question()
	if err != nil {
		return false
	}
	h, err := p.Start(msg)
	if err != nil || !h.Response || h.ID != qh.ID {
		return false
	}
	q, err := p.Question()
	return err == nil && sameQuestion(q, qq)
}

// notFoundAnswer is the answer "no such name" to query.
func notFoundAnswer(query []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	return synthAnswer(h, q, dnsmessage.RCodeNameError, nil)
}
