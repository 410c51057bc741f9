// Package registry talks to Docker and OCI registries: it parses image names
// the way Docker does, authenticates (anonymous bearer tokens, Basic, docker
// config.json and credential helpers), resolves a reference and a platform to
// one image manifest and its config, and streams blobs through a digest and
// size verifier.
//
// It is the first stage of the pull pipeline:
//
//	registry → decompress → rootfs (applier) → launcher
package registry
