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
	if a, s := c.Secrets.PullKeys(&c.ObjectStore); a.Reveal() != siteconfigtest.S3PullAccessKey || s.Reveal() != siteconfigtest.S3PullSecretKey {
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
	if a, _ := c.Secrets.PullKeys(&c.ObjectStore); a.Reveal() != siteconfigtest.S3AccessKey {
		t.Errorf("without a pull key: %q, want the push key", a.Reveal())
	}
	if !slices.ContainsFunc(warnings, func(w string) bool {
		return strings.Contains(w, KeyS3PullAccessKey) && strings.Contains(w, "can write and delete the bucket")
	}) {
		t.Errorf("no warning without a pull key: %v", warnings)
	}

	// Without adminEndpoint a tenant's one operator-made user serves both endpoints: the pull
	// pair is not used, and it says so.
	src = tenantSource()
	c, warnings, err = Load(src, "osaka")
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := c.Secrets.PullKeys(&c.ObjectStore); a.Reveal() != siteconfigtest.S3AccessKey {
		t.Errorf("tenant: %q, want the tenant user", a.Reveal())
	}
	if !slices.ContainsFunc(warnings, func(w string) bool {
		return strings.Contains(w, "adminEndpoint is not set") && strings.Contains(w, "consoleAdmin")
	}) {
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

// With objectStore.tenant.adminEndpoint the stack declares the tenant's users: the pull
// endpoints get the pull pair, which is then required, distinct from the push key and from the
// root user, and the endpoint must be scheme://host:port.
func TestTenantUsersPullKeys(t *testing.T) {
	withAdmin := func(endpoint string) MapSource {
		s := tenantSource()
		s.Values[KeyObjectStore] = `{"kind":"minio-tenant","tenant":{"adminEndpoint":"` + endpoint + `"}}`
		return s
	}
	c, warnings, err := Load(withAdmin("http://127.0.0.1:9000"), "osaka")
	if err != nil {
		t.Fatal(err)
	}
	if !c.ObjectStore.TenantUsers() {
		t.Fatal("TenantUsers() is false with an adminEndpoint")
	}
	if a, s := c.Secrets.PullKeys(&c.ObjectStore); a.Reveal() != siteconfigtest.S3PullAccessKey || s.Reveal() != siteconfigtest.S3PullSecretKey {
		t.Errorf("pull keys %q, want the pull pair", a.Reveal())
	}
	if slices.ContainsFunc(warnings, func(w string) bool {
		return strings.Contains(w, "consoleAdmin") || strings.Contains(w, KeyS3PullAccessKey)
	}) {
		t.Errorf("warned although the stack declares the users: %v", warnings)
	}
	server, ssl, err := AdminServer("https://minio.site.example:30900")
	if err != nil || server != "minio.site.example:30900" || !ssl {
		t.Errorf("AdminServer(https) = %q %v %v", server, ssl, err)
	}

	for name, tc := range map[string]struct {
		edit  func(MapSource)
		field string
	}{
		"no pull key":          {func(s MapSource) { delete(s.Values, KeyS3PullAccessKey); delete(s.Values, KeyS3PullSecretKey) }, KeyS3PullAccessKey},
		"pull key is push key": {func(s MapSource) { s.Values[KeyS3PullAccessKey] = siteconfigtest.S3AccessKey }, KeyS3PullAccessKey},
		"pull key is root":     {func(s MapSource) { s.Values[KeyS3PullAccessKey] = "minio-admin" }, KeyS3PullAccessKey},
		"push key is root":     {func(s MapSource) { s.Values[KeyS3AccessKey] = "minio-admin" }, KeyS3AccessKey},
		"plaintext pull key":   {func(s MapSource) { delete(s.Secret, KeyS3PullSecretKey) }, KeyS3PullSecretKey},
		"pull key not a name":  {func(s MapSource) { s.Values[KeyS3PullAccessKey] = "registry pull" }, KeyS3PullAccessKey},
	} {
		t.Run(name, func(t *testing.T) {
			s := withAdmin("http://127.0.0.1:9000")
			tc.edit(s)
			_, _, err := Load(s, "osaka")
			assertFieldError(t, err, tc.field)
		})
	}
	for _, bad := range []string{"127.0.0.1:9000", "ftp://127.0.0.1:9000", "http://127.0.0.1", "http://127.0.0.1:9000/minio", "http://u:p@127.0.0.1:9000", "http://127.0.0.1:99999"} {
		t.Run("adminEndpoint "+bad, func(t *testing.T) {
			_, _, err := Load(withAdmin(bad), "osaka")
			assertFieldError(t, err, "objectStore.tenant.adminEndpoint")
		})
	}
}
