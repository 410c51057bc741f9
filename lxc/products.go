package lxc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxProductCount bounds the products a products file may list (the LXC
// project's has about two thousand).
const maxProductCount = 100_000

// item is a file of a build.
type item struct {
	Ftype  string `json:"ftype"`
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// rawProduct is what a products file says of one product, and its newest
// build with a usable rootfs.
type rawProduct struct {
	Arch, OS, Release, Variant string
	Version                    string // "" when it has none
	Rootfs                     item
}

// usable: the root.tar.xz item of build v can be named, fetched and
// verified.
func usable(v string, it item) bool {
	return buildRE.MatchString(v) && checkPath(it.Path) == nil && sha256RE.MatchString(it.SHA256) && it.Size > 0 && it.Size <= maxRootfsSize
}

// decodeProducts reads a simplestreams products file as it streams by,
// keeping of each product only its names and newest usable build: the
// file may be tens of MiB, and decoding it whole (maps of every version
// and item) took about 16 times its size in memory.
func decodeProducts(r io.Reader) (map[string]*rawProduct, error) {
	dec := json.NewDecoder(r)
	out := map[string]*rawProduct{}
	err := object(dec, func(key string) error {
		if key != "products" {
			return skip(dec)
		}
		return object(dec, func(name string) error {
			if _, ok := out[name]; !ok && len(out) >= maxProductCount {
				return fmt.Errorf("more than %d products", maxProductCount)
			}
			p := &rawProduct{}
			out[name] = p // a name given twice: the last wins, as encoding/json has it
			return object(dec, func(field string) error {
				switch field {
				case "arch":
					return dec.Decode(&p.Arch)
				case "os":
					return dec.Decode(&p.OS)
				case "release":
					return dec.Decode(&p.Release)
				case "variant":
					return dec.Decode(&p.Variant)
				case "versions":
					return object(dec, func(v string) error {
						return object(dec, func(k string) error {
							if k != "items" {
								return skip(dec)
							}
							return object(dec, func(name string) error {
								if name != "root.tar.xz" {
									return skip(dec)
								}
								var it item
								if err := dec.Decode(&it); err != nil {
									return err
								}
								if usable(v, it) && v > p.Version { // build dates: the newest
									p.Version, p.Rootfs = v, it
								}
								return nil
							})
						})
					})
				}
				return skip(dec)
			})
		})
	})
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the document")
	}
	return out, nil
}

// object reads a JSON object (or null), calling fn for each key; fn reads
// the key's value.
func object(dec *json.Decoder, fn func(key string) error) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t == nil {
		return nil
	}
	if t != json.Delim('{') {
		return fmt.Errorf("%v where an object was expected", t)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return err
		}
		if err := fn(k.(string)); err != nil {
			return err
		}
	}
	_, err = dec.Token() // }
	return err
}

// skip reads one value, whatever it is.
func skip(dec *json.Decoder) error {
	depth := 0
	for {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}
