package talosconfig_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"

	"airgap-site/internal/golden"
	"airgap-site/siteconfig"
	"airgap-site/siteconfig/siteconfigtest"
	"airgap-site/talosconfig"
)

// siteWith loads a 3-node site with the given talos, bootstrap and registry config.
func siteWith(t *testing.T, talos, bootstrap, registry string) *siteconfig.Config {
	t.Helper()
	src := siteconfigtest.Source(siteconfigtest.ThreeControlPlanes)
	if talos != "" {
		src.Values[siteconfig.KeyTalos] = talos
	}
	if bootstrap != "" {
		src.Values[siteconfig.KeyBootstrap] = bootstrap
	}
	if registry != "" {
		src.Values[siteconfig.KeyRegistry] = registry
	}
	return siteconfigtest.Load(t, src)
}

// plainHTTP is the registry config of a site that opted out of TLS and authentication.
const plainHTTP = `{"plainHTTP":true}`

// testPullPassword stands in for the generated pull password.
const testPullPassword = "pull-password"

// build is the mirror model of a loaded site config, with the test CA and pull password as
// the generated credentials.
func build(t *testing.T, c *siteconfig.Config) *talosconfig.Mirrors {
	t.Helper()
	ca, err := os.ReadFile("testdata/registry-ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	return talosconfig.Build(c.MirrorSpec(string(ca), testPullPassword))
}

const ecr = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com"

func httpsTalos(version string) string {
	return fmt.Sprintf(`{"version":%q,"upstreams":["docker.io","registry.k8s.io"]}`, version)
}

// renderCases are the rendered patches under golden and schema test.
func renderCases(t *testing.T) map[string]struct {
	cfg     *siteconfig.Config
	version string
} {
	plain := func(v string) string {
		return fmt.Sprintf(`{"version":%q,"upstreams":["docker.io","ghcr.io","registry.k8s.io","quay.io",%q]}`, v, ecr)
	}
	boot := `{"endpoint":"http://10.20.0.100:5000"}`
	tlsBoot := httpsBootstrap(t)
	return map[string]struct {
		cfg     *siteconfig.Config
		version string
	}{
		"v1.11-http-bootstrap.yaml":  {siteWith(t, plain("v1.11.5"), boot, plainHTTP), "v1.11.5"},
		"v1.9-http.yaml":             {siteWith(t, plain("v1.9.6"), "", plainHTTP), "v1.9.6"},
		"v1.12-http-bootstrap.yaml":  {siteWith(t, plain("v1.12.11"), boot, plainHTTP), "v1.12.11"},
		"v1.13-http.yaml":            {siteWith(t, plain("v1.13.9"), "", plainHTTP), "v1.13.9"},
		"v1.11-https-ca-auth.yaml":   {siteWith(t, httpsTalos("v1.11.5"), "", ""), "v1.11.5"},
		"v1.12-https-ca-auth.yaml":   {siteWith(t, httpsTalos("v1.12.11"), "", ""), "v1.12.11"},
		"v1.13-https-ca-auth.yaml":   {siteWith(t, httpsTalos("v1.13.9"), "", ""), "v1.13.9"},
		"v1.12-https-bootstrap.yaml": {siteWith(t, httpsTalos("v1.12.11"), tlsBoot, ""), "v1.12.11"},
		"v1.11-https-bootstrap.yaml": {siteWith(t, httpsTalos("v1.11.5"), tlsBoot, ""), "v1.11.5"},
	}
}

// httpsBootstrap is the bootstrap config of a laptop serving over TLS: its endpoint and the
// bootstrap CA airgap serve generated, as PEM text.
func httpsBootstrap(t *testing.T) string {
	t.Helper()
	ca, err := os.ReadFile("testdata/bootstrap-ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{"endpoint": "https://10.20.0.100:5000", "ca": string(ca)})
	return string(b)
}

func TestRenderGolden(t *testing.T) {
	for name, tc := range renderCases(t) {
		t.Run(name, func(t *testing.T) {
			out, err := talosconfig.Render(build(t, tc.cfg), tc.version)
			if err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, name, out)
		})
	}
}

// TestRenderedPatchesMatchTalosSchema validates every rendered document against Talos' own
// JSON schema for that version.
func TestRenderedPatchesMatchTalosSchema(t *testing.T) {
	for name, tc := range renderCases(t) {
		t.Run(name, func(t *testing.T) {
			out, err := talosconfig.Render(build(t, tc.cfg), tc.version)
			if err != nil {
				t.Fatal(err)
			}
			sch := talosSchema(t, tc.version)
			for i, doc := range talosconfig.SplitDocuments(out) {
				if err := validate(sch, doc); err != nil {
					t.Errorf("document %d does not match the Talos %s schema: %v\n%s", i, tc.version, err, doc)
				}
			}
		})
	}
}

// TestSchemaCatchesWrongGeneration proves the schema check has teeth: a machine.registries
// patch is invalid for v1.12, and an endpoint without a scheme is invalid in a document.
func TestSchemaCatchesWrongGeneration(t *testing.T) {
	c := siteWith(t, `{"version":"v1.11.5"}`, "", "")
	old, _ := talosconfig.Render(build(t, c), "v1.11.5")
	if err := validate(talosSchema(t, "v1.12.11"), old); err == nil {
		t.Errorf("the v1.12 schema accepted a machine.registries patch")
	}
	bad := []byte("apiVersion: v1alpha1\nkind: RegistryMirrorConfig\nname: docker.io\nendpoints:\n  - url: 10.20.0.11:32000/v2/docker.io\n")
	if err := validate(talosSchema(t, "v1.12.11"), bad); err == nil {
		t.Errorf("the v1.12 schema accepted an endpoint without a scheme")
	}
	typo := []byte("machine:\n  registries:\n    mirrors:\n      docker.io:\n        endpoint: [http://a:1]\n")
	if err := validate(talosSchema(t, "v1.9.6"), typo); err == nil {
		t.Errorf("the v1.9 schema accepted a misspelt mirror field")
	}
}

func TestMirrorRules(t *testing.T) {
	c := siteWith(t, fmt.Sprintf(`{"upstreams":["docker.io",%q]}`, ecr), `{"endpoint":"http://10.20.0.100:5000"}`, plainHTTP)
	m := build(t, c)
	keys := []string{}
	for _, mir := range m.Mirrors {
		keys = append(keys, mir.Key)
		if strings.Contains(mir.Key, "://") {
			t.Errorf("mirror key %q is a URL", mir.Key)
		}
		if !mir.OverridePath || !mir.SkipFallback {
			t.Errorf("mirror %s: overridePath and skipFallback must be set", mir.Key)
		}
		last := mir.Endpoints[len(mir.Endpoints)-1]
		if !last.Bootstrap || !strings.HasPrefix(last.URL, "http://10.20.0.100:5000/v2") {
			t.Errorf("mirror %s: bootstrap endpoint is not last: %+v", mir.Key, mir.Endpoints)
		}
		for _, e := range mir.Endpoints {
			if !strings.HasPrefix(e.URL, "http://") {
				t.Errorf("endpoint %q has no scheme", e.URL)
			}
		}
	}
	want := "docker.io " + ecr + " 10.20.0.11:32000 10.20.0.12:32000 10.20.0.13:32000"
	if strings.Join(keys, " ") != want {
		t.Errorf("mirror keys = %v, want %s", keys, want)
	}
	if got := m.Mirrors[1].Endpoints[1].URL; got != "http://10.20.0.12:32000/v2/"+ecr {
		t.Errorf("ECR endpoint on node 2 = %s", got)
	}
	if len(m.Hosts) != 0 {
		t.Errorf("plain http site has TLS/auth hosts: %+v", m.Hosts)
	}
	// Without the bootstrap endpoint (a later `up`), it is gone from every mirror.
	c.Bootstrap.Endpoint = ""
	for _, mir := range build(t, c).Mirrors {
		if len(mir.Endpoints) != 3 {
			t.Errorf("mirror %s keeps %d endpoints after bootstrap removal", mir.Key, len(mir.Endpoints))
		}
	}
}

// TestPlainHTTPCarriesNoCredentials: a plainHTTP site sends no TLS block (it would break
// Talos' own pulls) and no password over plain http, whatever credentials exist.
func TestPlainHTTPCarriesNoCredentials(t *testing.T) {
	c := siteWith(t, `{"version":"v1.11.5"}`, "", plainHTTP)
	m := build(t, c)
	out, _ := talosconfig.Render(m, "v1.11.5")
	if strings.Contains(string(out), "tls:") || strings.Contains(string(out), "insecureSkipVerify") || m.HasAuth() ||
		strings.Contains(string(out), testPullPassword) {
		t.Errorf("TLS or credentials written for a plain-http registry:\n%s", out)
	}
}

// TestHTTPSCarriesCAAndPullIdentity: by default every node endpoint gets the site CA and the
// pull identity, in both generations.
func TestHTTPSCarriesCAAndPullIdentity(t *testing.T) {
	for _, v := range []string{"v1.11.5", "v1.12.11"} {
		c := siteWith(t, httpsTalos(v), "", "")
		m := build(t, c)
		if len(m.Hosts) != 3 {
			t.Fatalf("%s: %d hosts, want one per node", v, len(m.Hosts))
		}
		for _, h := range m.Hosts {
			if h.CA == "" || h.Username != siteconfig.PullUser || h.Password != testPullPassword || h.InsecureSkipVerify {
				t.Errorf("%s: host %+v", v, h)
			}
		}
		out, _ := talosconfig.Render(m, v)
		for _, e := range m.Mirrors[0].Endpoints {
			if !strings.HasPrefix(e.URL, "https://") {
				t.Errorf("%s: endpoint %s is not https", v, e.URL)
			}
		}
		if !strings.Contains(string(out), siteconfig.PullUser) {
			t.Errorf("%s: no pull identity in the patch:\n%s", v, out)
		}
	}
}

func TestRenderRejectsUnsupportedVersion(t *testing.T) {
	c := siteWith(t, "", "", "")
	for _, v := range []string{"v1.5.0", "v2.0.0", "latest"} {
		if _, err := talosconfig.Render(build(t, c), v); err == nil {
			t.Errorf("Render(%s) succeeded", v)
		}
	}
}

// talosSchema compiles the JSON schema of the Talos release line of version.
func talosSchema(t *testing.T, version string) *jsonschema.Schema {
	t.Helper()
	minor, err := talosconfig.Minor(version)
	if err != nil {
		t.Fatal(err)
	}
	// The v1alpha1 registries layout is the same from v1.7 to v1.11; v1.9 is the schema kept.
	file := map[int]string{12: "talos-v1.12.11-config.schema.json", 13: "talos-v1.13.9-config.schema.json"}[minor]
	if file == "" {
		file = "talos-v1.9.6-config.schema.json"
	}
	path := filepath.Join("testdata", "schemas", file)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(path, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(path)
	if err != nil {
		t.Fatalf("compiling %s: %v", path, err)
	}
	return sch
}

func validate(sch *jsonschema.Schema, yamlDoc []byte) error {
	js, err := yaml.YAMLToJSON(yamlDoc)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(string(js)))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

// TestParseRoundTrip: what Parse reads back from a rendered patch is the model it came from
// (mirror and host order aside for the map-keyed v1alpha1 form; the bootstrap mark is not in the patch).
func TestParseRoundTrip(t *testing.T) {
	for name, tc := range renderCases(t) {
		t.Run(name, func(t *testing.T) {
			want := build(t, tc.cfg)
			out, _ := talosconfig.Render(want, tc.version)
			got, err := talosconfig.Parse(out)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Mirrors) != len(want.Mirrors) || len(got.Hosts) != len(want.Hosts) {
				t.Fatalf("parsed %d mirrors, %d hosts; rendered %d, %d", len(got.Mirrors), len(got.Hosts), len(want.Mirrors), len(want.Hosts))
			}
			byKey := map[string]talosconfig.Mirror{}
			for _, m := range got.Mirrors {
				byKey[m.Key] = m
			}
			for _, w := range want.Mirrors {
				g := byKey[w.Key]
				if g.OverridePath != w.OverridePath || g.SkipFallback != w.SkipFallback || len(g.Endpoints) != len(w.Endpoints) {
					t.Errorf("mirror %s: got %+v, want %+v", w.Key, g, w)
					continue
				}
				for i := range w.Endpoints {
					if g.Endpoints[i].URL != w.Endpoints[i].URL || g.Endpoints[i].Host != w.Endpoints[i].Host {
						t.Errorf("mirror %s endpoint %d: %+v, want %+v", w.Key, i, g.Endpoints[i], w.Endpoints[i])
					}
				}
			}
			// Hosts by name: machine.registries.config is a map too.
			gotHosts := map[string]talosconfig.Host{}
			for _, h := range got.Hosts {
				gotHosts[h.Host] = h
			}
			for i, h := range want.Hosts {
				if gotHosts[h.Host] != h {
					t.Errorf("host %d: %+v, want %+v", i, gotHosts[h.Host], h)
				}
			}
		})
	}
	if _, err := talosconfig.Parse([]byte("apiVersion: v1alpha1\nkind: KubeletConfig\nname: x\n")); err == nil {
		t.Errorf("Parse accepted an unrelated document")
	}
}

// TestBootstrapTLS: an https bootstrap endpoint gets the bootstrap CA as its host's TLS CA in
// both generations, with no credentials; the patch passes the TLS-on-http rule, which still
// catches the same TLS block on a host reached over http. The patch for a Ready registry
// carries neither the endpoint nor its CA.
func TestBootstrapTLS(t *testing.T) {
	bootCA, _ := os.ReadFile("testdata/bootstrap-ca.pem")
	for _, v := range []string{"v1.11.5", "v1.12.11"} {
		c := siteWith(t, httpsTalos(v), httpsBootstrap(t), "")
		m := build(t, c)
		last := m.Hosts[len(m.Hosts)-1]
		if last.Host != "10.20.0.100:5000" || last.CA != string(bootCA) || last.Username != "" || last.Password != "" || last.InsecureSkipVerify {
			t.Errorf("%s: bootstrap host = %+v", v, last)
		}
		out, err := talosconfig.Render(m, v)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), "https://10.20.0.100:5000/v2/docker.io") {
			t.Errorf("%s: no https bootstrap endpoint:\n%s", v, out)
		}
		if p := talosconfig.CheckPatch(out, talosconfig.Rules{}); len(p) != 0 {
			t.Errorf("%s: the rendered patch breaks a patch rule: %v", v, p)
		}
		if p := talosconfig.CheckPatch(out, talosconfig.Rules{HTTPHosts: map[string]bool{"10.20.0.100:5000": true}}); len(p) != 1 || !strings.Contains(p[0].Message, "plain http") {
			t.Errorf("%s: a TLS block on an http bootstrap host passed: %v", v, p)
		}
		ready, err := c.ReadyMirrorPatch("CA", testPullPassword)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(ready), "10.20.0.100") || strings.Contains(string(ready), base64.StdEncoding.EncodeToString(bootCA)) ||
			strings.Contains(string(ready), strings.TrimSpace(string(bootCA))[30:80]) {
			t.Errorf("%s: the patch of a Ready registry still carries the bootstrap endpoint or its CA:\n%s", v, ready)
		}
		full, _ := c.MirrorPatch("CA", testPullPassword)
		if !strings.Contains(string(full), "10.20.0.100") {
			t.Errorf("%s: the patch with the bootstrap lost it:\n%s", v, full)
		}
	}
}
