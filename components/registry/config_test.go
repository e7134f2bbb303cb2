package registry

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"airgap-site/internal/golden"
)

func TestRenderGolden(t *testing.T) {
	for name, in := range map[string]Input{
		"external-http.yml": {
			Storage:  StorageInput{Endpoint: "http://10.20.0.5:9000", Region: "us-east-1", Bucket: "registry", RootDirectory: "/registry"},
			LogLevel: "info",
		},
		"tenant-https.yml": {
			Storage:  StorageInput{Endpoint: "https://minio.minio-tenant.svc.cluster.local:443", Region: "eu-central-1", Bucket: "images", RootDirectory: "/site-a"},
			LogLevel: "debug",
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
	c, err := Render(Input{Storage: StorageInput{Endpoint: "http://s3.local:9000", Region: "r", Bucket: "b", RootDirectory: "/"}, LogLevel: "info"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.YAML()
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	storage := doc["storage"].(map[string]any)
	s3 := storage["s3"].(map[string]any)
	checks := map[string]bool{
		"redirect.disable is true":    storage["redirect"].(map[string]any)["disable"] == true,
		"delete.enabled is true":      storage["delete"].(map[string]any)["enabled"] == true,
		"forcepathstyle is true":      s3["forcepathstyle"] == true,
		"regionendpoint is the URL":   s3["regionendpoint"] == "http://s3.local:9000",
		"secure is false for http":    s3["secure"] == false,
		"storage health check is on":  doc["health"].(map[string]any)["storagedriver"].(map[string]any)["enabled"] == true,
		"no access key in config":     s3["accesskey"] == nil && s3["secretkey"] == nil,
		"no http secret in config":    doc["http"].(map[string]any)["secret"] == nil,
		"listens on the service port": doc["http"].(map[string]any)["addr"] == ":5000",
	}
	for what, ok := range checks {
		if !ok {
			t.Errorf("%s:\n%s", what, b)
		}
	}
}

func TestRenderRejectsBadEndpoint(t *testing.T) {
	for _, ep := range []string{"", "s3.local:9000", "ftp://s3.local", "http://"} {
		_, err := Render(Input{Storage: StorageInput{Endpoint: ep}})
		if err == nil || !strings.Contains(err.Error(), "S3 endpoint") {
			t.Errorf("endpoint %q: err = %v", ep, err)
		}
	}
}

func TestConfigMapNameFollowsContent(t *testing.T) {
	a, b := Digest([]byte("a")), Digest([]byte("b"))
	if ConfigMapName(a) == ConfigMapName(b) || ConfigMapName(a) != ConfigMapName(Digest([]byte("a"))) {
		t.Errorf("ConfigMapName must be a function of content: %s %s", ConfigMapName(a), ConfigMapName(b))
	}
}
