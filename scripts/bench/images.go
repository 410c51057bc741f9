package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"sort"
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
// same content, as an image built by installing packages in several steps
// is: each Debian package's files (dpkg's lists in full, the whole
// image's tar, which the quick mode's cut lacks) go to one layer, the
// packages in name order cut at splitFractions of their bytes, and what no
// package owns (dpkg's database, generated files) to the first. Each layer
// lists its files' parent directories again, as the layers Docker and
// BuildKit make do, so most of a layer's files land in directories a lower
// layer made (/usr/bin, /usr/lib/x86_64-linux-gnu, /usr/share/man/man1).
// A hard link goes with its target (tar cannot link to a file it has not
// made yet). The second layer also gets files that the last one whites
// out: the tree the image makes is the one-layer's, the second layer's
// extra bytes travel and are deleted, as in a real image that cleans up
// after itself.
func split(tarball, full []byte) [][]byte {
	owner, pkgBytes := packages(full)
	names := make([]string, 0, len(pkgBytes))
	var total int64
	for p, n := range pkgBytes {
		if p != aptUpdate {
			names = append(names, p)
			total += n
		}
	}
	sort.Strings(names)
	// apt's lists and caches, which no package owns, come with the second
	// layer's packages (an "apt-get update && apt-get install" step); the
	// cuts are in the packages' bytes.
	layerOf := map[string]int{aptUpdate: 1}
	var sum int64
	l := 0
	for _, p := range names {
		for l < len(splitFractions)-1 && float64(sum) >= splitFractions[l]*float64(total) {
			l++
		}
		layerOf[p] = l
		sum += pkgBytes[p]
	}
	outs := make([]*bytes.Buffer, len(splitFractions))
	tws := make([]*tar.Writer, len(splitFractions))
	for i := range outs {
		outs[i] = &bytes.Buffer{}
		tws[i] = tar.NewWriter(outs[i])
	}
	tr := tar.NewReader(bytes.NewReader(tarball))
	in := map[string]int{} // which layer each name went to
	dirs := map[string]*tar.Header{}
	listed := make([]map[string]bool, len(splitFractions)) // dirs each layer lists
	for i := range listed {
		listed[i] = map[string]bool{}
	}
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		name := strings.TrimSuffix(strings.TrimPrefix(hdr.Name, "./"), "/")
		l := 0
		if p, ok := owner[name]; ok && hdr.Typeflag != tar.TypeDir && hdr.Typeflag != tar.TypeLink {
			l = layerOf[p]
		}
		if hdr.Typeflag == tar.TypeLink {
			if t, ok := in[strings.TrimPrefix(hdr.Linkname, "./")]; ok {
				l = t
			}
		}
		in[name] = l
		// The parents first, each once per layer, from the top down.
		for i := 0; i < len(name); i++ {
			if name[i] != '/' {
				continue
			}
			if p := name[:i]; !listed[l][p] && dirs[p] != nil {
				listed[l][p] = true
				tws[l].WriteHeader(dirs[p])
			}
		}
		if hdr.Typeflag == tar.TypeDir {
			dirs[name] = hdr
			listed[l][name] = true
		}
		tws[l].WriteHeader(hdr)
		io.Copy(tws[l], tr)
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

// aptUpdate owns, in packages' answer, apt's lists and caches.
const aptUpdate = "(apt-get update)"

// packages reads dpkg's file lists in the tarball: the package owning each
// path (relative, as the tar names it, /bin/x found at usr/bin/x on a
// merged-/usr system), and each package's bytes; apt's lists and caches
// are aptUpdate's.
func packages(tarball []byte) (owner map[string]string, size map[string]int64) {
	sizes := map[string]int64{}
	lists := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(tarball))
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		sizes[name] = hdr.Size
		if strings.HasPrefix(name, "var/lib/dpkg/info/") && strings.HasSuffix(name, ".list") {
			b, _ := io.ReadAll(tr)
			pkg := strings.TrimSuffix(strings.TrimPrefix(name, "var/lib/dpkg/info/"), ".list")
			lists[strings.SplitN(pkg, ":", 2)[0]] = string(b)
		}
	}
	owner, size = map[string]string{}, map[string]int64{}
	for pkg, list := range lists {
		size[pkg] += 0
		for _, p := range strings.Split(list, "\n") {
			p = strings.TrimPrefix(p, "/")
			if _, ok := sizes[p]; !ok {
				p = "usr/" + p // merged /usr: /bin, /sbin, /lib*
			}
			if n, ok := sizes[p]; ok && owner[p] == "" {
				owner[p] = pkg
				size[pkg] += n
			}
		}
	}
	for p, n := range sizes {
		if owner[p] == "" && (strings.HasPrefix(p, "var/lib/apt/") || strings.HasPrefix(p, "var/cache/apt/")) {
			owner[p] = aptUpdate
			size[aptUpdate] += n
		}
	}
	return owner, size
}

func gzipBytes(raw []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	zw.Write(raw)
	zw.Close()
	return buf.Bytes()
}
