package siteconfig_test

import (
	"slices"
	"strings"
	"testing"

	. "airgap-site/siteconfig"
	"airgap-site/siteconfig/siteconfigtest"
)

// The pull endpoints get an S3 identity of their own on an external store; a stack without
// one is warned at every preview and falls back to the push key.
func TestS3PullKeys(t *testing.T) {
	c, warnings, err := Load(validSource(), "osaka")
	if err != nil {
		t.Fatal(err)
	}
	if a, s := c.Secrets.PullKeys(c.ObjectStore.Kind); a.Reveal() != siteconfigtest.S3PullAccessKey || s.Reveal() != siteconfigtest.S3PullSecretKey {
		t.Errorf("pull keys %q, want the pull pair", a.Reveal())
	}
	if slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, KeyS3PullAccessKey) }) {
		t.Errorf("a site with a pull key is warned: %v", warnings)
	}

	src := validSource()
	delete(src.Values, KeyS3PullAccessKey)
	delete(src.Values, KeyS3PullSecretKey)
	c, warnings, err = Load(src, "osaka")
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := c.Secrets.PullKeys(c.ObjectStore.Kind); a.Reveal() != siteconfigtest.S3AccessKey {
		t.Errorf("without a pull key: %q, want the push key", a.Reveal())
	}
	if !slices.ContainsFunc(warnings, func(w string) bool {
		return strings.Contains(w, KeyS3PullAccessKey) && strings.Contains(w, "can write and delete the bucket")
	}) {
		t.Errorf("no warning without a pull key: %v", warnings)
	}

	// A tenant's one user serves both endpoints: the pull pair is not used, and it says so.
	src = tenantSource()
	c, warnings, err = Load(src, "osaka")
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := c.Secrets.PullKeys(c.ObjectStore.Kind); a.Reveal() != siteconfigtest.S3AccessKey {
		t.Errorf("tenant: %q, want the tenant user", a.Reveal())
	}
	if !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, "not used with kind \"minio-tenant\"") }) {
		t.Errorf("tenant with a pull pair: no warning: %v", warnings)
	}
}

func TestS3PullKeysRejects(t *testing.T) {
	for name, edit := range map[string]func(MapSource){
		"pull key is the push key": func(s MapSource) { s.Values[KeyS3PullAccessKey] = siteconfigtest.S3AccessKey },
		"secret key missing":       func(s MapSource) { delete(s.Values, KeyS3PullSecretKey) },
		"short secret key":         func(s MapSource) { s.Values[KeyS3PullSecretKey] = "short" },
		"plaintext pull key":       func(s MapSource) { delete(s.Secret, KeyS3PullSecretKey) },
	} {
		t.Run(name, func(t *testing.T) {
			s := validSource()
			edit(s)
			_, _, err := Load(s, "osaka")
			field := KeyS3PullSecretKey
			if strings.HasPrefix(name, "pull key") {
				field = KeyS3PullAccessKey
			}
			assertFieldError(t, err, field)
		})
	}
}
