// Package registry talks to Docker and OCI registries: it parses image names
// the way Docker does, authenticates (anonymous bearer tokens, Basic, docker
// config.json and credential helpers), resolves a reference and a platform to
// one image manifest and its config, and streams blobs through a digest and
// size verifier.
//
// Everything a registry sends is untrusted. Manifests and indexes are
// validated when parsed (ParseManifest, ParseIndex: valid digests, sizes,
// media types; at most MaxLayers layers and MaxIndexEntries entries); blobs
// are verified against their digest and size as they are read; tag
// listings are bounded. Connections are checked on the address dialed:
// token realms, blob redirects and foreign-layer URLs never reach
// link-local or cloud metadata addresses, reach loopback and private
// addresses only when the registry itself is there, and never go from
// https to plain HTTP. Plain HTTP and unverified TLS are allowed to the
// registries Options.Insecure covers and to addresses dialed on loopback.
// Text from a registry reaches error messages escaped and cut.
//
// It is the first stage of the pull pipeline:
//
//	registry → decompress → rootfs (applier) → launcher
package registry
