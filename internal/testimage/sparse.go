package testimage

import (
	"bytes"
	"fmt"
	"strconv"
)

// SparseTar is a tar of entries followed by a PAX (GNU 0.1) sparse file
// name that declares size bytes, of which only the last one is stored: a
// few hundred bytes that a tar reader hands out as size bytes of content.
// archive/tar's Writer cannot write one, so the blocks are made here.
func SparseTar(name string, size int64, entries ...Entry) []byte {
	head := Tar(entries...)
	head = head[:len(head)-1024] // the end-of-archive blocks
	rec := func(k, v string) string {
		s := " " + k + "=" + v + "\n"
		n := len(s) + 1
		for len(strconv.Itoa(n))+len(s) != n {
			n++
		}
		return strconv.Itoa(n) + s
	}
	pax := rec("GNU.sparse.major", "0") + rec("GNU.sparse.minor", "1") +
		rec("GNU.sparse.size", strconv.FormatInt(size, 10)) + rec("GNU.sparse.numblocks", "1") +
		rec("GNU.sparse.map", strconv.FormatInt(size-1, 10)+",1")
	var b bytes.Buffer
	b.Write(head)
	b.Write(ustarBlock("PaxHeaders/"+name, 'x', int64(len(pax))))
	b.Write(padBlock([]byte(pax)))
	b.Write(ustarBlock(name, '0', 1))
	b.Write(padBlock([]byte("A")))
	b.Write(make([]byte, 1024))
	return b.Bytes()
}

func ustarBlock(name string, typ byte, size int64) []byte {
	b := make([]byte, 512)
	copy(b[0:100], name)
	copy(b[100:], "0000644\x00")
	copy(b[108:], "0000000\x00")
	copy(b[116:], "0000000\x00")
	copy(b[124:], fmt.Sprintf("%011o\x00", size))
	copy(b[136:], "14616201031\x00")
	b[156] = typ
	copy(b[257:], "ustar\x0000")
	copy(b[148:], "        ")
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

func padBlock(b []byte) []byte {
	return append(b, make([]byte, (512-len(b)%512)%512)...)
}
