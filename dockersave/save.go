// Package dockersave writes an image as a `docker load` archive, the
// layout `docker save` wrote before OCI (and the scripts rootfs-pull
// replaces wrote): manifest.json, repositories, the config, and one
// directory per layer with its uncompressed layer.tar, VERSION and json.
package dockersave

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/pgzip"
	"github.com/opencontainers/go-digest"

	"github.com/rootfs-pull/rootfs-pull/decompress"
	"github.com/rootfs-pull/rootfs-pull/registry"
)

// Save writes im, as named by repoTag ("ubuntu:24.04"), to path: gzipped
// when path ends in .gz or .tgz. Every blob is verified, and each layer's
// uncompressed content against the config's diff_id. The archive appears
// under its name only when complete.
func Save(ctx context.Context, c *registry.Client, im *registry.Image, repoTag, path string) (err error) {
	dir := filepath.Dir(path)
	out, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	defer func() {
		if err != nil {
			out.Close()
			os.Remove(out.Name())
		}
	}()
	var w io.Writer = out
	var gz *pgzip.Writer
	if strings.HasSuffix(path, ".gz") || strings.HasSuffix(path, ".tgz") {
		gz = pgzip.NewWriter(out)
		w = gz
	}
	tw := tar.NewWriter(w)

	configName := im.Manifest.Config.Digest.Encoded() + ".json"
	if err := addFile(tw, configName, im.RawConfig); err != nil {
		return err
	}
	var layerPaths []string
	parent := ""
	for i, desc := range im.Manifest.Layers {
		diffID := im.Config.RootFS.DiffIDs[i]
		id := layerID(parent, diffID)
		if err := addLayer(ctx, c, im, i, tw, id+"/layer.tar", dir); err != nil {
			return fmt.Errorf("layer %d/%d %s: %w", i+1, len(im.Manifest.Layers), registry.ShortDigest(desc.Digest), err)
		}
		v1 := map[string]any{"id": id, "created": "1970-01-01T00:00:00Z"}
		if parent != "" {
			v1["parent"] = parent
		}
		if i == len(im.Manifest.Layers)-1 {
			v1["config"] = im.Config.Config
			v1["os"], v1["architecture"] = im.Config.OS, im.Config.Architecture
		}
		js, _ := json.Marshal(v1)
		if err := addFile(tw, id+"/VERSION", []byte("1.0")); err != nil {
			return err
		}
		if err := addFile(tw, id+"/json", js); err != nil {
			return err
		}
		layerPaths = append(layerPaths, id+"/layer.tar")
		parent = id
	}
	manifest, _ := json.Marshal([]map[string]any{{"Config": configName, "RepoTags": []string{repoTag}, "Layers": layerPaths}})
	if err := addFile(tw, "manifest.json", manifest); err != nil {
		return err
	}
	name, tag, _ := strings.Cut(repoTag, ":")
	if i := strings.LastIndex(repoTag, ":"); i > strings.LastIndex(repoTag, "/") {
		name, tag = repoTag[:i], repoTag[i+1:]
	}
	repos, _ := json.Marshal(map[string]map[string]string{name: {tag: parent}})
	if err := addFile(tw, "repositories", repos); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	if gz != nil {
		if err := gz.Close(); err != nil {
			return fmt.Errorf("save: %w", err)
		}
	}
	if err := out.Sync(); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	if err := os.Rename(out.Name(), path); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}

// layerID is the v1 id docker save gives a layer: a hash of its parent's
// id and its own diff_id.
func layerID(parent string, diffID digest.Digest) string {
	h := sha256.Sum256([]byte(parent + "\n" + diffID.String()))
	return hex.EncodeToString(h[:])
}

var epoch = time.Unix(0, 0)

func addFile(tw *tar.Writer, name string, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0644, Size: int64(len(data)), ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
		return fmt.Errorf("save %s: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("save %s: %w", name, err)
	}
	return nil
}

// addLayer writes layer i uncompressed. A tar header needs the size first,
// so the layer is decompressed into a temporary file beside the archive
// (and its diff_id checked) before it is copied in.
func addLayer(ctx context.Context, c *registry.Client, im *registry.Image, i int, tw *tar.Writer, name, dir string) error {
	desc := im.Manifest.Layers[i]
	blob, err := c.Blob(ctx, im.Ref, desc)
	if err != nil {
		return err
	}
	defer blob.Close()
	dr, _, err := decompress.NewReader(desc.MediaType, blob)
	if err != nil {
		return err
	}
	defer dr.Close()
	tmp, err := os.CreateTemp(dir, ".layer-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	diffID := im.Config.RootFS.DiffIDs[i]
	h := diffID.Algorithm().Digester()
	n, err := io.Copy(io.MultiWriter(tmp, h.Hash()), readerCtx{ctx, dr})
	if err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, blob); err != nil { // the blob's own check, to its end
		return err
	}
	if h.Digest() != diffID {
		return &registry.VerifyError{What: "layer content (diff_id)", Expected: diffID, Actual: h.Digest()}
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0644, Size: n, ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err = io.Copy(tw, readerCtx{ctx, tmp})
	return err
}

// readerCtx stops a copy when ctx is done.
type readerCtx struct {
	ctx context.Context
	r   io.Reader
}

func (r readerCtx) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
