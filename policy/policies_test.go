package main

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	"sigs.k8s.io/yaml"

	"airgap-site/siteconfig"
	"airgap-site/siteconfig/siteconfigtest"
)

func TestPlainUnwrapsSecretsAndMarksUnknowns(t *testing.T) {
	m := property.NewMap(map[string]property.Value{
		"s":   property.New("visible").WithSecret(true),
		"u":   property.New(property.Computed),
		"arr": property.New([]property.Value{property.New(1.0), property.New(true)}),
	})
	p := plainMap(m)
	if p["s"] != "visible" {
		t.Errorf("secret not unwrapped: %v", p["s"])
	}
	if _, ok := p["u"].(unknown); !ok {
		t.Errorf("computed value = %#v, want unknown", p["u"])
	}
	if arr := p["arr"].([]any); arr[0] != 1.0 || arr[1] != true {
		t.Errorf("array = %v", arr)
	}
}

func TestStackViewFindsPatches(t *testing.T) {
	patch := "apiVersion: v1alpha1\nkind: RegistryMirrorConfig\nname: docker.io\nendpoints: [{url: 'http://10.0.0.1:32000/v2/docker.io', overridePath: true}]\nskipFallback: true\n"
	s := newStackView([]policyx.AnalyzerResource{
		{Type: "pulumi:pulumi:Stack", URN: "stack", Properties: property.NewMap(map[string]property.Value{
			"talosMirrorPatch": property.New(patch).WithSecret(true),
		})},
		{Type: "talos:machine/configurationApply:ConfigurationApply", URN: "apply", Properties: property.NewMap(map[string]property.Value{
			"configPatches": property.New([]property.Value{property.New(patch), property.New("machine: {time: {disabled: true}}")}),
		})},
	})
	if len(s.patches) != 3 || len(s.mirrors) != 2 {
		t.Errorf("found %d patches, %d mirror sets; want 3 patches, 2 with mirrors", len(s.patches), len(s.mirrors))
	}
	// The preview of a new stack: the full patch waits for generated credentials; the
	// bootstrap patch gives the mirrors.
	s = newStackView([]policyx.AnalyzerResource{
		{Type: "pulumi:pulumi:Stack", URN: "stack", Properties: property.NewMap(map[string]property.Value{
			"talosMirrorPatch":    property.New(property.Computed),
			"talosBootstrapPatch": property.New(patch),
		})},
	})
	if len(s.mirrors) != 1 {
		t.Errorf("%d mirror sets from the bootstrap patch, want 1", len(s.mirrors))
	}
}

func TestEveryPolicyHasADescription(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Policies(nil) {
		if p.Description() == "" || seen[p.Name()] {
			t.Errorf("policy %q: empty description or duplicate name", p.Name())
		}
		seen[p.Name()] = true
	}
	if len(seen) != 11 {
		t.Errorf("%d policies, want 9 mandatory + 2 advisory", len(seen))
	}
}

// The README's policy table lists every policy of the pack, at its level, and nothing else.
func TestReadmeListsEveryPolicy(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "| policy | level | what it enforces |")
	if !ok {
		t.Fatal("README.md has no policy table (| policy | level | what it enforces |)")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	row := regexp.MustCompile("(?m)^\\| `([a-z0-9-]+)` \\| (mandatory|advisory) \\|")
	inReadme := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(table, -1) {
		inReadme[m[1]] = m[2]
	}
	levels := map[policyx.EnforcementLevel]string{policyx.EnforcementLevelMandatory: "mandatory", policyx.EnforcementLevelAdvisory: "advisory"}
	for _, p := range Policies(nil) {
		level, listed := inReadme[p.Name()]
		switch {
		case !listed:
			t.Errorf("README's policy table does not list %s", p.Name())
		case level != levels[p.EnforcementLevel()]:
			t.Errorf("README lists %s as %s; the pack enforces it as %s", p.Name(), level, levels[p.EnforcementLevel()])
		}
		delete(inReadme, p.Name())
	}
	for name := range inReadme {
		t.Errorf("README's policy table lists %s, which is not in the pack", name)
	}
}

// props turns YAML into resource properties, as the engine hands them to the pack.
func props(t *testing.T, y string) property.Map {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(y), &m); err != nil {
		t.Fatal(err)
	}
	return toValue(m).AsMap()
}

func toValue(v any) property.Value {
	switch v := v.(type) {
	case map[string]any:
		m := map[string]property.Value{}
		for k, e := range v {
			m[k] = toValue(e)
		}
		return property.New(property.NewMap(m))
	case []any:
		var a []property.Value
		for _, e := range v {
			a = append(a, toValue(e))
		}
		return property.New(property.NewArray(a))
	case string:
		return property.New(v)
	case float64:
		return property.New(v)
	case bool:
		return property.New(v)
	}
	return property.New(property.Null)
}

func TestRegistryAccessExemptionIsTheStacks(t *testing.T) {
	open := props(t, `metadata:
  name: registry-config
  annotations: {airgap-site/plain-http: "true"}
data:
  config.yml: "version: 0.1\nhttp: {addr: ':5000'}\nstorage: {s3: {bucket: b}, redirect: {disable: true}}\n"
`)
	cm := policyx.AnalyzerResource{Type: "kubernetes:core/v1:ConfigMap", Properties: open}
	if got := validateRegistryAccess(false)(cm, plainMap(open)); len(got) != 2 {
		t.Errorf("an open registry config annotated plain-http by the workload: %v, want the 2 violations", got)
	}
	if got := validateRegistryAccess(true)(cm, plainMap(open)); len(got) != 0 {
		t.Errorf("registry.plainHTTP in the stack config: %v, want none", got)
	}
	d := props(t, `spec:
  template:
    spec:
      containers:
        - name: registry
          env: [{name: REGISTRY_HTTP_TLS_CERTIFICATE, value: ""}, {name: REGISTRY_STORAGE_REDIRECT_DISABLE, value: "false"}]
`)
	dep := policyx.AnalyzerResource{Type: "kubernetes:apps/v1:Deployment", Properties: d}
	if got := validateRegistryAccess(false)(dep, plainMap(d)); len(got) != 1 || !strings.Contains(got[0], "REGISTRY_HTTP_TLS_CERTIFICATE") {
		t.Errorf("TLS emptied in the environment: %v", got)
	}
	if got := validateRegistryConfig(dep, plainMap(d)); len(got) != 1 || !strings.Contains(got[0], "REGISTRY_STORAGE_REDIRECT_DISABLE") {
		t.Errorf("redirect turned on in the environment: %v", got)
	}
}

func TestStackConfigFromTheEngine(t *testing.T) {
	src := siteconfigtest.Source(siteconfigtest.TwoNodes)
	src.Values[siteconfig.KeyRegistry] = `{"nodePort":32100,"plainHTTP":true}`
	config, secret := map[string]string{}, []string{}
	for k, v := range src.Values {
		config[siteconfig.ConfigNamespace+":"+k] = v
		if src.Secret[k] {
			secret = append(secret, siteconfig.ConfigNamespace+":"+k)
		}
	}
	ctx, err := pulumi.NewContext(context.Background(), pulumi.RunInfo{Project: "airgap-site", Stack: "osaka", Config: config, ConfigSecretKeys: secret})
	if err != nil {
		t.Fatal(err)
	}
	cfg := stackConfig(ctx)
	if cfg == nil {
		t.Fatal("the stack config did not load")
	}
	if !cfg.Registry.PlainHTTP || cfg.Registry.NodePort != 32100 {
		t.Errorf("registry = %+v", cfg.Registry)
	}
	bad, err := pulumi.NewContext(context.Background(), pulumi.RunInfo{Project: "airgap-site", Stack: "osaka", Config: map[string]string{
		"airgap-site:registry": `{"plainHTTP":true,"misspelt":1}`,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if stackConfig(bad) != nil {
		t.Error("a config that does not load exempts: want nil (no exemption)")
	}
}

func TestPullEndpointReadOnlyInTheStack(t *testing.T) {
	pullConfig, err := os.ReadFile("../components/registry/testdata/external-http-pull.yml")
	if err != nil {
		t.Fatal(err)
	}
	pushConfig, err := os.ReadFile("../components/registry/testdata/external-http-push.yml")
	if err != nil {
		t.Fatal(err)
	}
	configMap := func(name string, config []byte) policyx.AnalyzerResource {
		m := map[string]any{"metadata": map[string]any{"name": name, "namespace": "registry"}, "data": map[string]any{"config.yml": string(config)}}
		return policyx.AnalyzerResource{Type: "kubernetes:core/v1:ConfigMap", URN: "cm-" + name, Properties: toValue(m).AsMap()}
	}
	service := func(name string, nodePort float64, component string) policyx.AnalyzerResource {
		m := map[string]any{"metadata": map[string]any{"name": name, "namespace": "registry"}, "spec": map[string]any{
			"type": "NodePort", "selector": map[string]any{"app.kubernetes.io/name": "registry", "app.kubernetes.io/component": component},
			"ports": []any{map[string]any{"port": 5000.0, "nodePort": nodePort}}}}
		return policyx.AnalyzerResource{Type: "kubernetes:core/v1:Service", URN: "svc-" + name, Properties: toValue(m).AsMap()}
	}
	deployment := func(name, component, configMap, env string) policyx.AnalyzerResource {
		y := `metadata: {name: ` + name + `, namespace: registry}
spec:
  template:
    metadata: {labels: {app.kubernetes.io/name: registry, app.kubernetes.io/component: ` + component + `}}
    spec:
      volumes: [{name: config, configMap: {name: ` + configMap + `}}]
      containers: [{name: registry, image: r, env: [` + env + `]}]
`
		return policyx.AnalyzerResource{Type: "kubernetes:apps/v1:Deployment", Name: name, URN: "dep-" + name, Properties: props(t, y)}
	}
	site := []policyx.AnalyzerResource{
		configMap("pull-config", pullConfig), configMap("push-config", pushConfig),
		service("registry", 32000, "registry"), service("registry-push", 32001, "registry-push"),
		deployment("registry", "registry", "pull-config", "{name: REGISTRY_HTTP_SECRET, valueFrom: {secretKeyRef: {name: s, key: k}}}"),
		deployment("registry-push", "registry-push", "push-config", ""),
	}
	cfg := &siteconfig.Config{Registry: siteconfig.Registry{NodePort: 32000, PushNodePort: 32001}}
	run := func(resources ...policyx.AnalyzerResource) []string {
		var out []string
		validatePullReadOnly(cfg)(newStackView(append(append([]policyx.AnalyzerResource(nil), site...), resources...)), func(msg, urn string) {
			out = append(out, urn+": "+msg)
		})
		return out
	}
	if got := run(); len(got) != 0 {
		t.Errorf("the stack's own registry: %v, want no violation", got)
	}
	for name, tc := range map[string]struct {
		extra policyx.AnalyzerResource
		want  string
	}{
		"a workload joins the pull selector with the push config": {deployment("intruder", "registry", "push-config", ""), "dep-intruder: "},
		"read-only off in its environment":                        {deployment("intruder", "registry", "pull-config", `{name: REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED, value: "false"}`), "REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED"},
		"no registry config at all":                               {deployment("intruder", "registry", "app-config", ""), "mounts no registry config.yml"},
		"another Service on the node port":                        {service("other", 32000, "registry-push"), "dep-registry-push: "},
	} {
		got := run(tc.extra)
		if len(got) != 1 || !strings.Contains(got[0], tc.want) {
			t.Errorf("%s: %v, want one violation with %q", name, got, tc.want)
		}
	}
}
