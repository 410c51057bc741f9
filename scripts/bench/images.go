package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// benchImage is an image the benchmark pushes: its layers as tar and gzip.
type benchImage struct {
	name   string // "one-layer", "many-layer"
	repo   string // in the registry
	tars   [][]byte
	gzs    [][]byte
	files  []string // the gzip layers on disk, for tar -xzf
	digest []string // the layer blobs' digests
}

// bytes is what the image's layers weigh compressed: what goes over the
// link.
func (im *benchImage) bytes() int64 {
	var n int64
	for _, g := range im.gzs {
		n += int64(len(g))
	}
	return n
}

// prefix cuts a tar stream after the entry that takes its content past
// limit bytes: a smaller image of the same kind, for the quick mode.
func prefix(tarball []byte, limit int64) []byte {
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(tarball))
	var n int64
	for n < limit {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		tw.WriteHeader(hdr)
		m, _ := io.Copy(tw, tr)
		n += m
	}
	tw.Close()
	return out.Bytes()
}

// splitFractions is where the many-layer image cuts the one-layer's
// content, as a share of its bytes: a large base and smaller layers on
// top, as Docker Hub images are.
var splitFractions = []float64{0.30, 0.55, 0.70, 0.80, 0.88, 0.95, 1}

// split cuts the one-layer tar into len(splitFractions) layers of the
// same content, in order (a hard link's target always comes first), and
// adds to the second layer files that the last one whites out: the tree
// the image makes is the one-layer's, the second layer's extra bytes
// travel and are deleted, as in a real image that cleans up after itself.
func split(tarball []byte) [][]byte {
	var total int64
	tr := tar.NewReader(bytes.NewReader(tarball))
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		total += hdr.Size
	}
	outs := make([]*bytes.Buffer, len(splitFractions))
	tws := make([]*tar.Writer, len(splitFractions))
	for i := range outs {
		outs[i] = &bytes.Buffer{}
		tws[i] = tar.NewWriter(outs[i])
	}
	tr = tar.NewReader(bytes.NewReader(tarball))
	var n int64
	layer := 0
	in := map[string]int{} // which layer each name went to
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		for layer < len(splitFractions)-1 && float64(n) >= splitFractions[layer]*float64(total) {
			layer++
		}
		l := layer
		if hdr.Typeflag == tar.TypeLink {
			// With its target: crane export writes the top layer first,
			// and tar cannot link to a file it has not made yet.
			if t, ok := in[strings.TrimPrefix(hdr.Linkname, "./")]; ok {
				l = t
			}
		}
		in[strings.TrimPrefix(hdr.Name, "./")] = l
		tws[l].WriteHeader(hdr)
		m, _ := io.Copy(tws[l], tr)
		n += m
	}
	// The whiteouts' victims: a directory of small files (a package
	// cache) and a file.
	junk := func(tw *tar.Writer, name string, body []byte, typ byte) {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: typ, Mode: 0644, Size: int64(len(body)), Format: tar.FormatPAX})
		tw.Write(body)
	}
	junk(tws[1], "var/tmp/bench-junk/", nil, tar.TypeDir)
	for i := range 300 {
		junk(tws[1], fmt.Sprintf("var/tmp/bench-junk/f%03d", i), []byte(strings.Repeat(fmt.Sprintf("line %d of junk\n", i), 256)), tar.TypeReg)
	}
	junk(tws[1], "etc/bench-gone", []byte("deleted by a later layer\n"), tar.TypeReg)
	last := tws[len(tws)-1]
	junk(last, "var/tmp/.wh.bench-junk", nil, tar.TypeReg)
	junk(last, "etc/.wh.bench-gone", nil, tar.TypeReg)
	layers := make([][]byte, len(outs))
	for i := range outs {
		tws[i].Close()
		layers[i] = outs[i].Bytes()
	}
	return layers
}

func gzipBytes(raw []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	zw.Write(raw)
	zw.Close()
	return buf.Bytes()
}
