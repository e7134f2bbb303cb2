package siteconfig_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"airgap-site/pki"
	. "airgap-site/siteconfig"
	"airgap-site/talosconfig"
)

// userSnippet is the patch the site engineers wrote by hand: mirror and config keys as URLs,
// and insecureSkipVerify on a registry served over plain http.
const userSnippet = `machine:
  registries:
    mirrors:
      https://10.20.0.11:32000:
        endpoints:
          - http://10.20.0.11:32000
    config:
      https://10.20.0.11:32000:
        tls:
          insecureSkipVerify: true
`

func TestTalosDefaults(t *testing.T) {
	c, _, err := Load(validSource(), "osaka")
	if err != nil {
		t.Fatal(err)
	}
	tl := c.Talos
	if tl.Manage || tl.Version != talosconfig.DefaultVersion || c.RegistryScheme() != "https" || c.Registry.PushNodePort != 32001 || tl.ApplyMode != "auto" ||
		strings.Join(tl.Upstreams, ",") != "docker.io,ghcr.io,registry.k8s.io,quay.io" ||
		tl.ClusterName != "osaka" || tl.ClusterEndpoint != "https://10.20.0.11:6443" {
		t.Errorf("talos defaults: %+v", tl)
	}
	if !tl.UsesDocuments() {
		t.Errorf("%s must use RegistryMirrorConfig documents", tl.Version)
	}
	tl.Version = "v1.11.5"
	if tl.UsesDocuments() {
		t.Errorf("v1.11 uses machine.registries")
	}
}

func TestUserSnippetRejected(t *testing.T) {
	s := validSource()
	s.Values[KeyTalos] = `{"patches":[` + jsonString(userSnippet) + `]}`
	_, _, err := Load(s, "osaka")
	assertFieldError(t, err, `talos.patches[0].machine.registries.mirrors["https://10.20.0.11:32000"]`)
	assertFieldError(t, err, `talos.patches[0].machine.registries.config["https://10.20.0.11:32000"]`)
	assertFieldError(t, err, `talos.patches[0].machine.registries.config["https://10.20.0.11:32000"].tls`)
	msg := err.Error()
	for _, want := range []string{"is a URL", "10.20.0.11:32000", "silently ignores", "plain http"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not explain the right form (%q):\n%s", want, msg)
		}
	}
}

func TestTLSOnPlainHTTPRejected(t *testing.T) {
	// Keys written right this time, but a TLS block for the http registry remains.
	s := validSource()
	s.Values[KeyRegistry] = `{"plainHTTP":true}`
	s.Values[KeyTalos] = `{"patches":[{"machine":{"registries":{"config":{"10.20.0.11:32000":{"tls":{"insecureSkipVerify":true}}}}}}]}`
	_, _, err := Load(s, "osaka")
	assertFieldError(t, err, `talos.patches[0].machine.registries.config["10.20.0.11:32000"].tls`)
	if !strings.Contains(err.Error(), "breaks Talos' own image pulls") {
		t.Errorf("error does not say why: %v", err)
	}
	s.Values[KeyTalos] = `{"patches":["apiVersion: v1alpha1\nkind: RegistryTLSConfig\nname: 10.20.0.13:32000\ninsecureSkipVerify: true\n"]}`
	_, _, err = Load(s, "osaka")
	assertFieldError(t, err, "talos.patches[0]")
	// The same block for an https registry (the default) is fine.
	delete(s.Values, KeyRegistry)
	s.Values[KeyTalos] = `{"patches":[{"machine":{"registries":{"config":{"10.20.0.11:32000":{"tls":{"insecureSkipVerify":true}}}}}}]}`
	if _, _, err := Load(s, "osaka"); err != nil {
		t.Errorf("TLS for an https registry rejected: %v", err)
	}
}

func TestTalosRejects(t *testing.T) {
	cases := []struct {
		name, talos, bootstrap, field string
	}{
		{"upstream as url", `{"upstreams":["https://ghcr.io"]}`, "", "talos.upstreams[0]"},
		{"upstream with path", `{"upstreams":["docker.io/library"]}`, "", "talos.upstreams[0]"},
		{"duplicate upstream", `{"upstreams":["docker.io","quay.io","docker.io"]}`, "", "talos.upstreams[2]"},
		{"upstream is a node endpoint", `{"upstreams":["docker.io","10.20.0.12:32000"]}`, "", "talos.upstreams[1]"},
		{"unsupported version", `{"version":"v1.4.8"}`, "", "talos.version"},
		{"future version", `{"version":"v1.20.0"}`, "", "talos.version"},
		{"garbage version", `{"version":"latest"}`, "", "talos.version"},
		{"bad apply mode", `{"applyMode":"now"}`, "", "talos.applyMode"},
		{"endpoint without scheme", `{"patches":[{"machine":{"registries":{"mirrors":{"my.registry:5000":{"endpoints":["10.0.0.9:5000"]}}}}}]}`, "",
			`talos.patches[0].machine.registries.mirrors["my.registry:5000"].endpoints[0]`},
		{"patch overrides a managed mirror", `{"patches":[{"machine":{"registries":{"mirrors":{"docker.io":{"endpoints":["http://10.0.0.9:5000"]}}}}}]}`, "",
			`talos.patches[0].machine.registries.mirrors["docker.io"]`},
		{"duplicate mirror across patches", `{"patches":[{"machine":{"registries":{"mirrors":{"my.registry":{"endpoints":["http://a:1"]}}}}},{"machine":{"registries":{"mirrors":{"my.registry":{"endpoints":["http://b:1"]}}}}}]}`, "",
			`talos.patches[1].machine.registries.mirrors["my.registry"]`},
		{"v1.12 document with url name", `{"patches":["apiVersion: v1alpha1\nkind: RegistryMirrorConfig\nname: https://my.registry\nendpoints:\n  - url: http://10.0.0.9:5000\n"]}`, "",
			"talos.patches[0].name"},
		{"patch not yaml", `{"patches":["machine: [unclosed"]}`, "", "talos.patches[0]"},
		{"bootstrap equals a node", "", `{"endpoint":"https://10.20.0.12:32000"}`, "bootstrap.endpoint"},
		{"upper-case ipv6 bootstrap equals a node", "", `{"endpoint":"https://[FD00::12]:32000"}`, "bootstrap.endpoint"},
		{"bootstrap without scheme", "", `{"endpoint":"10.20.0.100:5000"}`, "bootstrap.endpoint"},
		{"bootstrap over plain http", "", `{"endpoint":"http://10.20.0.100:5000"}`, "bootstrap.endpoint"},
		{"upstream with upper case", `{"upstreams":["Docker.IO"]}`, "", "talos.upstreams[0]"},
		{"upstream as ipv6 literal", `{"upstreams":["docker.io","[fd00::5]:5000"]}`, "", "talos.upstreams[1]"},
		{"managed without endpoint", `{"manage":true,"clusterEndpoint":"10.20.0.11:6443"}`, "", "talos.clusterEndpoint"},
		{"unknown talos field", `{"mirrors":{}}`, "", "talos"},
		{"client-side registry settings (now generated)", `{"registry":{"scheme":"https"}}`, "", "talos"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := validSource()
			if tc.name == "upper-case ipv6 bootstrap equals a node" {
				setNode(s, 1, "ip", "fd00::12")
			}
			if tc.talos != "" {
				s.Values[KeyTalos] = tc.talos
			}
			if tc.bootstrap != "" {
				s.Values[KeyBootstrap] = tc.bootstrap
			}
			_, _, err := Load(s, "osaka")
			assertFieldError(t, err, tc.field)
		})
	}
}

func TestTalosAccepts(t *testing.T) {
	s := validSource()
	s.Values[KeyTalos] = `{"version":"v1.11.5","upstreams":["docker.io","123456789012.dkr.ecr.ap-northeast-2.amazonaws.com","harbor.local:8443"],
		"patches":[{"machine":{"registries":{"mirrors":{"harbor.corp:5000":{"endpoints":["https://harbor.corp:5000"]}}}}}]}`
	s.Values[KeyBootstrap] = bootstrapJSON("https://10.20.0.100:5000", bootstrapCA(t))
	c, warnings, err := Load(s, "osaka")
	if err != nil {
		t.Fatal(err)
	}
	if c.Bootstrap.Endpoint != "https://10.20.0.100:5000" || len(c.Talos.Upstreams) != 3 {
		t.Errorf("config = %+v", c.Talos)
	}
	// While a bootstrap endpoint is set, every preview says to remove it once the registry is up.
	if !slices.ContainsFunc(warnings, func(w string) bool {
		return strings.Contains(w, "bootstrap.endpoint is set") && strings.Contains(w, "pulumi config rm bootstrap")
	}) {
		t.Errorf("no bootstrap warning: %q", warnings)
	}
	s.Values[KeyBootstrap] = ""
	if _, warnings, _ := Load(s, "osaka"); slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, "bootstrap") }) {
		t.Errorf("a bootstrap warning without bootstrap.endpoint: %q", warnings)
	}
	// Plain http for the laptop only where the registry itself is plain http.
	s.Values[KeyRegistry] = `{"plainHTTP":true}`
	s.Values[KeyBootstrap] = `{"endpoint":"http://10.20.0.100:5000"}`
	if _, _, err := Load(s, "osaka"); err != nil {
		t.Errorf("an http bootstrap on a plainHTTP site: %v", err)
	}
}

// bootstrapCA is a CA certificate as airgap serve generates it, and one it issued.
func bootstrapCA(t *testing.T) string {
	t.Helper()
	ca, _, err := pki.NewCA("airgap bootstrap CA", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func bootstrapJSON(endpoint, ca string) string {
	b, _ := json.Marshal(Bootstrap{Endpoint: endpoint, CA: ca})
	return string(b)
}

func TestBootstrapRules(t *testing.T) {
	caPEM, caKey, err := pki.NewCA("airgap bootstrap CA", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	leaf, _, err := pki.IssueServing(caPEM, caKey, "laptop", []string{"10.20.0.100"}, nil, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, registry, bootstrap, field, says string }{
		{"http on a TLS site", "", `{"endpoint":"http://10.20.0.100:5000"}`, "bootstrap.endpoint", "plain http"},
		{"https without its CA", "", `{"endpoint":"https://10.20.0.100:5000"}`, "bootstrap.ca", "required"},
		{"a CA for http", `{"plainHTTP":true}`, bootstrapJSON("http://10.20.0.100:5000", caPEM), "bootstrap.ca", "https bootstrap.endpoint only"},
		{"a CA without an endpoint", "", bootstrapJSON("", caPEM), "bootstrap.ca", "without bootstrap.endpoint"},
		{"the serving certificate for the CA", "", bootstrapJSON("https://10.20.0.100:5000", leaf), "bootstrap.ca", "not a CA"},
		{"a key for the CA", "", bootstrapJSON("https://10.20.0.100:5000", caKey), "bootstrap.ca", "not a PEM certificate"},
		{"no port", "", bootstrapJSON("https://10.20.0.100", caPEM), "bootstrap.endpoint", "https://host:port"},
		{"a host name", "", bootstrapJSON("https://laptop.local:5000", caPEM), "bootstrap.endpoint", "IP address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := validSource()
			if tc.registry != "" {
				s.Values[KeyRegistry] = tc.registry
			}
			s.Values[KeyBootstrap] = tc.bootstrap
			_, _, err := Load(s, "osaka")
			assertFieldError(t, err, tc.field)
			if err != nil && !strings.Contains(err.Error(), tc.says) {
				t.Errorf("%v does not say %q", err, tc.says)
			}
		})
	}

	// A path is read by ResolveBootstrapCA, relative to the project; the patch carries the PEM.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), []byte(caPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	s := validSource()
	s.Values[KeyBootstrap] = bootstrapJSON("https://10.20.0.100:5000", "ca.crt")
	c, _, err := Load(s, "osaka")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.MirrorPatch("", ""); err == nil {
		t.Error("a patch rendered with bootstrap.ca not read")
	}
	if err := c.ResolveBootstrapCA(dir); err != nil {
		t.Fatal(err)
	}
	patch, err := c.MirrorPatch("", "")
	if err != nil {
		t.Fatal(err)
	}
	m, err := talosconfig.Parse(patch)
	if err != nil {
		t.Fatal(err)
	}
	if h := m.Hosts[len(m.Hosts)-1]; h.Host != "10.20.0.100:5000" || h.CA != caPEM {
		t.Errorf("bootstrap host = %+v", h)
	}
	for path, says := range map[string]string{"missing.crt": "reading the bootstrap CA", "leaf.crt": "not a CA"} {
		_ = os.WriteFile(filepath.Join(dir, "leaf.crt"), []byte(leaf), 0o600)
		c.Bootstrap.CA = path
		if err := c.ResolveBootstrapCA(dir); err == nil || !strings.Contains(err.Error(), "bootstrap.ca") || !strings.Contains(err.Error(), says) {
			t.Errorf("ResolveBootstrapCA(%s) = %v", path, err)
		}
	}
}

func jsonString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

func TestImagesConfig(t *testing.T) {
	s := validSource()
	s.Values[KeyTalos] = `{"upstreams":["docker.io","123456789012.dkr.ecr.ap-northeast-2.amazonaws.com"]}`
	s.Values[KeyImages] = `{"bundle":"./bundle","trustedKeys":["keys/site.pub"],"list":["nginx:1.27",{"image":"123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/factory/mes-api:7"},
		"docker.io/library/redis@sha256:` + strings.Repeat("a", 64) + `"]}`
	c, _, err := Load(s, "osaka")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Images.List) != 3 || c.ImageRegistry() != "10.20.0.11:32001" {
		t.Errorf("images = %+v", c.Images)
	}
}

func TestImagesRejects(t *testing.T) {
	cases := []struct{ name, images, field string }{
		{"unmirrored upstream", `{"bundle":"b","list":["gcr.io/distroless/static:nonroot"]}`, "images.list[0]"},
		{"duplicate", `{"bundle":"b","list":["nginx:1.27","docker.io/library/nginx:1.27"]}`, "images.list[1]"},
		{"bad reference", `{"bundle":"b","list":["Not A Ref"]}`, "images.list[0]"},
		{"no bundle", `{"list":["nginx:1.27"]}`, "images.bundle"},
		{"build without docker", `{"list":[{"image":"docker.io/factory/ui:1","build":{"context":"./ui"}}]}`, "images.docker.host"},
		{"build without context", `{"docker":{"host":"unix:///var/run/docker.sock"},"list":[{"image":"docker.io/factory/ui:1","build":{}}]}`, "images.list[0].build.context"},
		{"unknown entry field", `{"bundle":"b","list":[{"image":"nginx:1","pull":true}]}`, "images"},
		{"negative retry", `{"bundle":"b","retrySeconds":-1,"list":["nginx:1"]}`, "images.retrySeconds"},
		{"huge timeout", `{"bundle":"b","timeoutSeconds":86400,"list":["nginx:1"]}`, "images.timeoutSeconds"},
		{"negative rate cap", `{"bundle":"b","maxBytesPerSecond":-1,"list":["nginx:1"]}`, "images.maxBytesPerSecond"},
		{"negative keepPrevious", `{"bundle":"b","keepPrevious":-1,"list":["nginx:1"]}`, "images.keepPrevious"},
		{"rate cap in bits", `{"bundle":"b","maxBytesPerSecond":100,"list":["nginx:1"]}`, "images.maxBytesPerSecond"},
		{"upper-case registry", `{"bundle":"b","list":["Docker.IO/library/nginx:1.27"]}`, "images.list[0]"},
		{"registry as url", `{"bundle":"b","registry":"http://10.20.0.11:32000","list":["nginx:1"]}`, "images.registry"},
		{"bundle without trusted keys", `{"bundle":"b","list":["nginx:1"]}`, "images.trustedKeys"},
		{"empty trusted key", `{"bundle":"b","trustedKeys":[""],"list":["nginx:1"]}`, "images.trustedKeys[0]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := validSource()
			s.Values[KeyImages] = tc.images
			_, _, err := Load(s, "osaka")
			assertFieldError(t, err, tc.field)
		})
	}
}

// TestTalosNormalizes: inputs with one meaning and several spellings are normalised, and the
// normal form is what the stack renders.
func TestTalosNormalizes(t *testing.T) {
	s := validSource()
	s.Values[KeyTalos] = `{"version":"1.9.6","upstreams":["docker.io","registry.local:5443"]}`
	s.Values[KeyImages] = `{"bundle":"b","allowUnsigned":true,"list":["registry.local:5443/factory/mes:7"]}`
	c, _, err := Load(s, "osaka")
	if err != nil {
		t.Fatal(err)
	}
	if c.Talos.Version != "v1.9.6" || c.Talos.UsesDocuments() {
		t.Errorf("version = %q, want v1.9.6 (machine.registries)", c.Talos.Version)
	}
}
