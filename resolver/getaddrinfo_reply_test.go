package resolver

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// be32s is big-endian int32s, as netd writes them.
func be32s(vs ...uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

// sockaddrOf is a's sockaddr as netd sends it (a phone's byte order), port
// 53 and, for IPv6, scope ID 3 (which the reader leaves out).
func sockaddrOf(a string) []byte {
	ip := netip.MustParseAddr(a)
	if ip.Is4() {
		sa := binary.LittleEndian.AppendUint16(nil, afInet)
		sa = binary.BigEndian.AppendUint16(sa, 53)
		sa = append(sa, ip.AsSlice()...)
		return append(sa, make([]byte, 8)...)
	}
	sa := binary.LittleEndian.AppendUint16(nil, afInet6)
	sa = binary.BigEndian.AppendUint16(sa, 53)
	sa = append(sa, 0, 0, 0, 0)
	sa = append(sa, ip.AsSlice()...)
	return binary.LittleEndian.AppendUint32(sa, 3)
}

// gaiRecord is one addrinfo of a reply: family, sockaddr, canonical name
// (with its NUL, if any).
func gaiRecord(family uint32, sa []byte, canon string) []byte {
	b := be32s(1, 0, family, sockStream, 6, uint32(len(sa)))
	b = append(b, sa...)
	b = append(b, be32s(uint32(len(canon)))...)
	return append(b, canon...)
}

func okReply(records ...[]byte) []byte {
	b := []byte(codeQueryResult)
	for _, r := range records {
		b = append(b, r...)
	}
	return append(b, be32s(0)...)
}

func failReply(eai uint32) []byte {
	b := append([]byte(codeOperationFailed), be32s(4)...)
	return binary.LittleEndian.AppendUint32(b, eai)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// hostileReplies are replies to a getaddrinfo for AF_INET that must be
// errors; want is in the error's text. hold: netd then says nothing more
// and keeps the connection open.
var hostileReplies = func() []struct {
	name  string
	reply []byte
	hold  bool
	want  string
} {
	many := [][]byte{}
	for i := range maxAddrinfos + 1 {
		many = append(many, gaiRecord(afInet, sockaddrOf(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).String()), ""))
	}
	sa4 := sockaddrOf("192.0.2.1")
	wrongFamily := slices.Clone(sa4)
	wrongFamily[0] = afInet6
	return []struct {
		name  string
		reply []byte
		hold  bool
		want  string
	}{
		{"garbage", []byte("\xff\xfe\xfd\xfc\x00\x01\x02"), false, "not a reply code"},
		{"nothing after its code", []byte(codeQueryResult), false, "ended early"},
		{"cut in an address", cat([]byte(codeQueryResult), be32s(1, 0, afInet, 1, 6, 16), sa4[:5]), false, "ended early"},
		{"silent after its code", []byte(codeQueryResult), true, "deadline exceeded"},
		{"65 addresses", okReply(many...), false, "more than 64 addresses"},
		{"huge address length", cat([]byte(codeQueryResult), be32s(1, 0, afInet, 1, 6, 0xffffffff)), false, "address of 4294967295 bytes"},
		{"address longer than sockaddr_storage", cat([]byte(codeQueryResult), be32s(1, 0, afInet, 1, 6, 129)), false, "address of 129 bytes"},
		{"sockaddr of the wrong length", okReply(gaiRecord(afInet, sockaddrOf("2001:db8::1"), "")), false, "of 28 bytes, not 16"},
		{"sockaddr of another family", okReply(gaiRecord(afInet, wrongFamily, "")), false, "sockaddr of family 10"},
		{"address of another family", okReply(gaiRecord(afInet6, sockaddrOf("2001:db8::1"), "")), false, "family 10, asked 2"},
		{"huge canonical name", cat([]byte(codeQueryResult), be32s(1, 0, afInet, 1, 6, 16), sa4, be32s(1<<30)), false, "canonical name of 1073741824 bytes"},
		{"canonical name without its NUL", okReply(gaiRecord(afInet, sa4, "abc")), false, "without its NUL"},
		{"huge error length", cat([]byte(codeOperationFailed), be32s(0x7fffffff)), false, "error code of 2147483647 bytes"},
		{"cut error code", cat([]byte(codeOperationFailed), be32s(4), []byte{2}), false, "ended early"},
		{"unknown error code", failReply(999), false, "getaddrinfo: error 999"},
		{"endless text", append([]byte("400 "), bytes.Repeat([]byte("x"), 5000)...), false, "netd answered getaddrinfo: 400 xxx"},
	}
}()

func TestReadGetaddrinfoReply(t *testing.T) {
	for _, tt := range []struct {
		name   string
		reply  []byte
		family int
		want   []string
		err    error
	}{
		{"one address", okReply(gaiRecord(afInet, sockaddrOf("192.0.2.1"), "")), afInet, []string{"192.0.2.1"}, nil},
		{"several, a duplicate, a canonical name", okReply(
			gaiRecord(afInet, sockaddrOf("192.0.2.1"), "registry.phone.test\x00"),
			gaiRecord(afInet, sockaddrOf("192.0.2.2"), ""),
			gaiRecord(afInet, sockaddrOf("192.0.2.1"), ""),
		), afInet, []string{"192.0.2.1", "192.0.2.2"}, nil},
		{"IPv6, scope left out", okReply(gaiRecord(afInet6, sockaddrOf("2001:db8::1"), "")), afInet6, []string{"2001:db8::1"}, nil},
		{"IPv4-mapped IPv6", okReply(gaiRecord(afInet6, sockaddrOf("::ffff:192.0.2.1"), "")), afInet6, []string{"::ffff:192.0.2.1"}, nil},
		{"no address", okReply(), afInet, nil, nil},
		{"EAI_NODATA", failReply(7), afInet, nil, eaiNodata},
		{"EAI_NONAME", failReply(8), afInet6, nil, eaiNoname},
		{"EAI_AGAIN", failReply(2), afInet, nil, eaiAgain},
		{"command not recognized", []byte("500 Command not recognized\x00"), afInet, nil, errNetdMute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			trailer := []byte("more that netd may send later")
			r := bytes.NewReader(append(slices.Clone(tt.reply), trailer...))
			addrs, err := readGetaddrinfoReply(r, tt.family)
			if !errors.Is(err, tt.err) || (tt.err != nil && err == nil) {
				t.Fatalf("got %v, %v; want error %v", addrs, err, tt.err)
			}
			var got []string
			for _, a := range addrs {
				got = append(got, a.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if r.Len() != len(trailer) {
				t.Errorf("read %d bytes past the reply", len(trailer)-r.Len())
			}
		})
	}
	for _, tt := range hostileReplies {
		if tt.hold {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			addrs, err := readGetaddrinfoReply(bytes.NewReader(tt.reply), afInet)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, %v; want an error saying %q", addrs, err, tt.want)
			}
		})
	}
}

// FuzzGetaddrinfoReply: whatever netd sends, the reader does not panic,
// reads at most maxReply bytes, and returns only what was asked for.
func FuzzGetaddrinfoReply(f *testing.F) {
	f.Add(okReply(gaiRecord(afInet, sockaddrOf("192.0.2.1"), "x\x00")), false)
	f.Add(okReply(gaiRecord(afInet6, sockaddrOf("2001:db8::1"), "")), true)
	f.Add(failReply(7), false)
	f.Add([]byte("500 Command not recognized\x00"), true)
	for _, tt := range hostileReplies {
		f.Add(tt.reply, false)
	}
	f.Fuzz(func(t *testing.T, reply []byte, six bool) {
		family := afInet
		if six {
			family = afInet6
		}
		r := bytes.NewReader(reply)
		addrs, err := readGetaddrinfoReply(r, family)
		if read := len(reply) - r.Len(); read > maxReply {
			t.Fatalf("read %d bytes", read)
		}
		if err != nil {
			if addrs != nil {
				t.Fatalf("addresses %v with error %v", addrs, err)
			}
			return
		}
		if len(addrs) > maxAddrinfos {
			t.Fatalf("%d addresses", len(addrs))
		}
		for i, a := range addrs {
			if a.Is4() != (family == afInet) || a.Zone() != "" || slices.Contains(addrs[:i], a) {
				t.Fatalf("address %v in %v, asked family %d", a, addrs, family)
			}
		}
	})
}

func TestGetaddrinfoCommand(t *testing.T) {
	for _, tt := range []struct {
		host   string
		family int
		want   string
	}{
		{"registry.phone.test.", afInet, "getaddrinfo registry.phone.test. ^ 0 2 1 0 0\x00"},
		{"Reg_1-x.test.", afInet6, "getaddrinfo Reg_1-x.test. ^ 0 10 1 0 0\x00"},
		{"a b.test.", afInet, ""},
		{`a"b.test.`, afInet, ""},
		{`a\b.test.`, afInet, ""},
		{"^.", afInet, ""},
		{".", afInet, ""},
		{"", afInet, ""},
		{"a\x00b.", afInet, ""},
		{strings.Repeat("a.", 128), afInet, ""},
	} {
		got, err := getaddrinfoCommand(tt.host, tt.family)
		if tt.want == "" {
			if !errors.Is(err, errNotAnswerable) {
				t.Errorf("%q: got %q, %v; want it refused", tt.host, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got %q, %v; want %q", tt.host, got, err, tt.want)
		}
	}
}

func TestAddressQuestion(t *testing.T) {
	query := func(h dnsmessage.Header, qs ...dnsmessage.Question) []byte {
		b := dnsmessage.NewBuilder(nil, h)
		b.StartQuestions()
		for _, q := range qs {
			if err := b.Question(q); err != nil {
				t.Fatal(err)
			}
		}
		m, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	name := dnsmessage.MustNewName("registry.phone.test.")
	qa := dnsmessage.Question{Name: name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}
	qaaaa := qa
	qaaaa.Type = dnsmessage.TypeAAAA
	qtxt := qa
	qtxt.Type = dnsmessage.TypeTXT
	qchaos := qa
	qchaos.Class = dnsmessage.ClassCHAOS
	rd := dnsmessage.Header{ID: 0x1234, RecursionDesired: true}
	for _, tt := range []struct {
		name  string
		query []byte
		ok    bool
	}{
		{"A", query(rd, qa), true},
		{"AAAA", query(rd, qaaaa), true},
		{"TXT", query(rd, qtxt), false},
		{"class CHAOS", query(rd, qchaos), false},
		{"two questions", query(rd, qa, qaaaa), false},
		{"no question", query(rd), false},
		{"a response", query(dnsmessage.Header{ID: 1, Response: true}, qa), false},
		{"garbage", []byte{1, 2, 3}, false},
	} {
		h, q, err := addressQuestion(tt.query)
		if !tt.ok {
			if !errors.Is(err, errNotAnswerable) {
				t.Errorf("%s: got %v, want errNotAnswerable", tt.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		ans, err := synthAnswer(h, q, dnsmessage.RCodeSuccess, []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var p dnsmessage.Parser
		ah, err := p.Start(ans)
		if err != nil || ah.ID != 0x1234 || !ah.Response || !ah.RecursionDesired || !ah.RecursionAvailable || ah.RCode != dnsmessage.RCodeSuccess {
			t.Errorf("%s: header %+v, %v", tt.name, ah, err)
		}
		if aq, err := p.Question(); err != nil || aq != q {
			t.Errorf("%s: question %v, %v; want %v", tt.name, aq, err, q)
		}
		p.SkipAllQuestions()
		rrs, err := p.AllAnswers()
		if err != nil || len(rrs) != 1 || rrs[0].Header.Type != q.Type || rrs[0].Header.TTL != synthTTL {
			t.Errorf("%s: answers %v, %v; want one %v record", tt.name, rrs, err, q.Type)
		}
	}
}
