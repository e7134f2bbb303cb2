// Package siteconfigtest is the one site config fixture of the tests: a valid site on an
// external S3 endpoint, which each test edits in the one place it is about.
package siteconfigtest

import (
	"testing"

	"airgap-site/siteconfig"
)

// Node lists for Source.
const (
	// ThreeNodes is one control plane and two workers, 10.20.0.11-13.
	ThreeNodes = `[{"name":"cp-1","ip":"10.20.0.11","role":"controlplane"},
	               {"name":"w-1","ip":"10.20.0.12","role":"worker"},
	               {"name":"w-2","ip":"10.20.0.13","role":"worker"}]`
	// ThreeControlPlanes is three control-plane nodes, 10.20.0.11-13.
	ThreeControlPlanes = `[{"name":"cp-1","ip":"10.20.0.11","role":"controlplane"},
	                       {"name":"cp-2","ip":"10.20.0.12","role":"controlplane"},
	                       {"name":"cp-3","ip":"10.20.0.13","role":"controlplane"}]`
	// TwoNodes is one control plane and one worker, 10.20.0.11-12.
	TwoNodes = `[{"name":"cp-1","ip":"10.20.0.11","role":"controlplane"},
	             {"name":"w-1","ip":"10.20.0.12","role":"worker"}]`
)

// Values of the fixture's secrets.
const (
	S3AccessKey = "registry-push-7f3a"
	S3SecretKey = "registry-secret-key"
	// The pull endpoints' read-only identity.
	S3PullAccessKey = "registry-pull"
	S3PullSecretKey = "registry-pull-secret-key"
)

// Source is a valid site with the given nodes (a JSON list) on the external S3 endpoint
// http://10.20.0.5:9000, with its S3 credentials (push and read-only pull) stored as secrets.
func Source(nodes string) siteconfig.MapSource {
	return siteconfig.MapSource{
		Values: map[string]string{
			siteconfig.KeyNodes:           nodes,
			siteconfig.KeyObjectStore:     `{"kind":"external","endpoint":"http://10.20.0.5:9000"}`,
			siteconfig.KeyS3AccessKey:     S3AccessKey,
			siteconfig.KeyS3SecretKey:     S3SecretKey,
			siteconfig.KeyS3PullAccessKey: S3PullAccessKey,
			siteconfig.KeyS3PullSecretKey: S3PullSecretKey,
		},
		Secret: map[string]bool{siteconfig.KeyS3AccessKey: true, siteconfig.KeyS3SecretKey: true,
			siteconfig.KeyS3PullAccessKey: true, siteconfig.KeyS3PullSecretKey: true},
	}
}

// SetSecret stores value under key as an encrypted (secret) key.
func SetSecret(src siteconfig.MapSource, key, value string) {
	src.Values[key], src.Secret[key] = value, true
}

// Load loads src as the stack osaka and fails t on any error.
func Load(t testing.TB, src siteconfig.MapSource) *siteconfig.Config {
	t.Helper()
	c, _, err := siteconfig.Load(src, "osaka")
	if err != nil {
		t.Fatal(err)
	}
	return c
}
