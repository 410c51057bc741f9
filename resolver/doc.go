// Package resolver finds a working DNS resolver at run time, for hosts
// where Go's own resolver cannot find one.
//
// Release builds are CGO_ENABLED=0, so Go resolves names itself from
// /etc/resolv.conf. Android has no such file, and Go then asks [::1]:53,
// where nothing listens: every lookup fails. The android build and the
// linux builds run on Android alike (Termux), so the choice is made when
// the program runs, not by build tag: a host whose resolv.conf exists and
// names a nameserver keeps Go's resolver unchanged; otherwise names are
// sent, in order, to
//
//  1. Android's netd, over its socket /dev/socket/dnsproxyd, as bionic
//     does: this honours Private DNS, VPNs and per-network servers. The
//     DNS message goes whole with the resnsend command (Android 10+);
//     a netd that does not know resnsend (Android 7 to 9) is asked, for
//     the rest of the run, with its getaddrinfo command instead, one
//     family per A or AAAA query, and its addresses are made into a DNS
//     answer (other queries go to the next source). That older netd
//     says "no address" alike for a name that does not exist and when
//     its own servers did not answer: either is final, as "no such host";
//  2. the servers in Termux's $PREFIX/etc/resolv.conf (the first four,
//     as bionic takes no more);
//  3. public resolvers (1.1.1.1, 8.8.8.8 and their IPv6 twins), with
//     short timeouts.
//
// ROOTFS_PULL_DNS (or a flag) forces servers, at most eight, replacing
// all of these.
//
// Go's own DNS logic (hosts file, search list, CNAMEs, A and AAAA) stays:
// the sources sit behind a net.Resolver{PreferGo: true} whose Dial returns
// a connection that carries each DNS message to them.
//
// What netd sends is read as untrusted: bounded in size and count (at most
// 64 addresses a reply), in time (the source's timeout), and checked field
// by field; anything else is an error, and the next source is asked.
//
// A source has answered only when Go's resolver would take its answer
// from a DNS server (a response with the query's ID and question, not
// truncated, success or "no such name", not a lame referral): anything
// else is that source's failure, and the next source is asked. A "no
// such name" is final for the name, not only for the query it answered:
// a query of the other type (Go asks A and AAAA apart) is not answered
// by another source, and the lookup says "no such host".
//
// A lookup reports the sources whose answers held its records (--debug,
// Answered), the same to every concurrent caller of the name (the
// resolver shares one lookup between them), and stops asking once no
// caller waits for it.
package resolver
