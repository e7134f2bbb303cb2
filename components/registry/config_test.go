package registry

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"airgap-site/internal/golden"
)

func TestRenderGolden(t *testing.T) {
	for name, in := range map[string]Input{
		"external-http-pull.yml": {
			Storage:  StorageInput{Endpoint: "http://10.20.0.5:9000", Region: "us-east-1", Bucket: "registry", RootDirectory: "/registry"},
			LogLevel: "info", Role: RolePull,
		},
		"external-http-push.yml": {
			Storage:  StorageInput{Endpoint: "http://10.20.0.5:9000", Region: "us-east-1", Bucket: "registry", RootDirectory: "/registry"},
			LogLevel: "info", Role: RolePush,
		},
		"tenant-https-pull.yml": {
			Storage:  StorageInput{Endpoint: "https://minio.minio-tenant.svc.cluster.local:443", Region: "eu-central-1", Bucket: "images", RootDirectory: "/site-a"},
			LogLevel: "debug", Role: RolePull,
		},
		"plain-http-push.yml": {
			Storage:  StorageInput{Endpoint: "http://10.20.0.5:9000", Region: "us-east-1", Bucket: "registry", RootDirectory: "/registry"},
			LogLevel: "info", Role: RolePush, PlainHTTP: true,
		},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := Render(in)
			if err != nil {
				t.Fatal(err)
			}
			b, err := c.YAML()
			if err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, name, b)
		})
	}
}

// TestRenderInvariants reads the YAML back generically, as the registry would, and checks the
// settings an air-gapped site depends on, independently of the golden files.
func TestRenderInvariants(t *testing.T) {
	for _, role := range []Role{RolePull, RolePush} {
		doc := renderGeneric(t, Input{Storage: StorageInput{Endpoint: "http://s3.local:9000", Region: "r", Bucket: "b", RootDirectory: "/"}, LogLevel: "info", Role: role})
		storage := doc["storage"].(map[string]any)
		s3 := storage["s3"].(map[string]any)
		httpSection := doc["http"].(map[string]any)
		tls, _ := httpSection["tls"].(map[string]any)
		htpasswd, _ := doc["auth"].(map[string]any)["htpasswd"].(map[string]any)
		readonly, _ := storage["maintenance"].(map[string]any)["readonly"].(map[string]any)
		pull := role == RolePull
		checks := map[string]bool{
			"redirect.disable is true":            storage["redirect"].(map[string]any)["disable"] == true,
			"delete only on the push endpoint":    storage["delete"].(map[string]any)["enabled"] == !pull,
			"read-only only on the pull endpoint": (readonly["enabled"] == true) == pull,
			"purging only on the push endpoint":   storage["maintenance"].(map[string]any)["uploadpurging"].(map[string]any)["enabled"] == !pull,
			"forcepathstyle is true":              s3["forcepathstyle"] == true,
			"regionendpoint is the URL":           s3["regionendpoint"] == "http://s3.local:9000",
			"secure is false for http":            s3["secure"] == false,
			"storage health check is on":          doc["health"].(map[string]any)["storagedriver"].(map[string]any)["enabled"] == true,
			"no access key in config":             s3["accesskey"] == nil && s3["secretkey"] == nil,
			"no http secret in config":            httpSection["secret"] == nil,
			"listens on the service port":         httpSection["addr"] == ":5000",
			"serves TLS from the mounted pair":    tls["certificate"] == TLSCertFile && tls["key"] == TLSKeyFile,
			"htpasswd from the mounted file":      htpasswd["path"] == HtpasswdFile,
			"health on the debug listener":        httpSection["debug"].(map[string]any)["addr"] == ":5001",
		}
		for what, ok := range checks {
			if !ok {
				t.Errorf("%s: %s:\n%v", role, what, doc)
			}
		}
	}
	plain := renderGeneric(t, Input{Storage: StorageInput{Endpoint: "http://s3.local:9000"}, Role: RolePull, PlainHTTP: true})
	if plain["auth"] != nil || plain["http"].(map[string]any)["tls"] != nil {
		t.Errorf("plainHTTP renders TLS or auth: %v", plain)
	}
	if _, err := Render(Input{Storage: StorageInput{Endpoint: "http://s3.local:9000"}}); err == nil {
		t.Error("a config without a role rendered")
	}
}

func renderGeneric(t *testing.T, in Input) map[string]any {
	t.Helper()
	c, err := Render(in)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.YAML()
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestRenderRejectsBadEndpoint(t *testing.T) {
	for _, ep := range []string{"", "s3.local:9000", "ftp://s3.local", "http://"} {
		_, err := Render(Input{Storage: StorageInput{Endpoint: ep}, Role: RolePull})
		if err == nil || !strings.Contains(err.Error(), "S3 endpoint") {
			t.Errorf("endpoint %q: err = %v", ep, err)
		}
	}
}

func TestConfigMapNameFollowsContent(t *testing.T) {
	a, b := Digest([]byte("a")), Digest([]byte("b"))
	if ConfigMapName(RolePull, a) == ConfigMapName(RolePull, b) || ConfigMapName(RolePull, a) != ConfigMapName(RolePull, Digest([]byte("a"))) {
		t.Errorf("ConfigMapName must be a function of content: %s %s", ConfigMapName(RolePull, a), ConfigMapName(RolePull, b))
	}
	if ConfigMapName(RolePull, a) == ConfigMapName(RolePush, a) {
		t.Errorf("the two roles share a ConfigMap name: %s", ConfigMapName(RolePull, a))
	}
}
