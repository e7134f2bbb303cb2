package checks

import (
	"os"
	"strings"
	"testing"
)

func TestEnvConfigPath(t *testing.T) {
	for name, want := range map[string]string{
		"REGISTRY_STORAGE_REDIRECT_DISABLE":             "storage.redirect.disable",
		"REGISTRY_HTTP_TLS_CERTIFICATE":                 "http.tls.certificate",
		"REGISTRY_AUTH":                                 "auth",
		"REGISTRY_STORAGE_MAINTENANCE_READONLY":         "storage.maintenance.readonly",
		"REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED": "storage.maintenance.readonly.enabled",
		"REGISTRY_":     "",
		"OTHER_VAR":     "",
		"registry_auth": "",
	} {
		if got := EnvConfigPath(name); got != want {
			t.Errorf("EnvConfigPath(%s) = %q, want %q", name, got, want)
		}
	}
}

func TestRegistryEnvOverrides(t *testing.T) {
	// What the stack's own registry containers set: credentials and the http secret from a
	// Secret, tracing off. None of it touches a guarded key.
	stack := []EnvVar{
		{Name: "REGISTRY_STORAGE_S3_ACCESSKEY", FromRef: true},
		{Name: "REGISTRY_STORAGE_S3_SECRETKEY", FromRef: true},
		{Name: "REGISTRY_HTTP_SECRET", FromRef: true},
		{Name: "OTEL_TRACES_EXPORTER", Value: "none"},
	}
	cases := []struct {
		name    string
		env     []EnvVar
		guarded []string
		want    string // "" for no violation
	}{
		{"stack's registry, redirect keys", stack, RedirectKeys, ""},
		{"stack's registry, access keys", stack, AccessKeys, ""},
		{"stack's registry, read-only keys", stack, ReadOnlyKeys, ""},
		{"redirect turned on", []EnvVar{{Name: "REGISTRY_STORAGE_REDIRECT_DISABLE", Value: "false"}}, RedirectKeys, "overrides storage.redirect.disable"},
		{"whole redirect section", []EnvVar{{Name: "REGISTRY_STORAGE_REDIRECT", Value: "{disable: false}"}}, RedirectKeys, "REGISTRY_STORAGE_REDIRECT"},
		{"whole storage section", []EnvVar{{Name: "REGISTRY_STORAGE", Value: "{filesystem: {}}"}}, RedirectKeys, "REGISTRY_STORAGE"},
		{"path style off", []EnvVar{{Name: "REGISTRY_STORAGE_S3_FORCEPATHSTYLE", Value: "false"}}, RedirectKeys, "forcepathstyle"},
		{"tls certificate emptied", []EnvVar{{Name: "REGISTRY_HTTP_TLS_CERTIFICATE", Value: ""}}, AccessKeys, "overrides http.tls.certificate"},
		{"tls section removed", []EnvVar{{Name: "REGISTRY_HTTP_TLS", Value: ""}}, AccessKeys, "REGISTRY_HTTP_TLS"},
		{"auth removed", []EnvVar{{Name: "REGISTRY_AUTH", Value: ""}}, AccessKeys, "overrides auth"},
		{"htpasswd path from a secret", []EnvVar{{Name: "REGISTRY_AUTH_HTPASSWD_PATH", FromRef: true}}, AccessKeys, "from a reference"},
		{"read-only off", []EnvVar{{Name: "REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED", Value: "false"}}, ReadOnlyKeys, "overrides storage.maintenance.readonly.enabled"},
		{"maintenance replaced", []EnvVar{{Name: "REGISTRY_STORAGE_MAINTENANCE", Value: "{uploadpurging: {enabled: true}}"}}, ReadOnlyKeys, "REGISTRY_STORAGE_MAINTENANCE"},
		// Guarded keys are set in config.yml only, even to a good value.
		{"redirect disabled again", []EnvVar{{Name: "REGISTRY_STORAGE_REDIRECT_DISABLE", Value: "true"}}, RedirectKeys, "set storage.redirect.disable in config.yml"},
	}
	for _, tc := range cases {
		got := RegistryEnvOverrides(Container{Name: "registry", Kind: "container", Env: tc.env}, tc.guarded)
		switch {
		case tc.want == "" && len(got) != 0:
			t.Errorf("%s: violations %v, want none", tc.name, got)
		case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)):
			t.Errorf("%s: violations %v, want one naming %q", tc.name, got, tc.want)
		}
	}
}

func TestContainersReadEnv(t *testing.T) {
	d := obj(t, `spec:
  template:
    spec:
      containers:
        - name: registry
          env:
            - {name: REGISTRY_HTTP_SECRET, valueFrom: {secretKeyRef: {name: s, key: k}}}
            - {name: REGISTRY_AUTH, value: ""}
          envFrom: [{configMapRef: {name: more}}]
`)
	cs := Containers("Deployment", d)
	if len(cs) != 1 || len(cs[0].Env) != 2 || !cs[0].Env[0].FromRef || cs[0].Env[1].FromRef || cs[0].Env[1].Name != "REGISTRY_AUTH" || !cs[0].EnvFrom {
		t.Errorf("containers = %+v", cs)
	}
}

func TestPods(t *testing.T) {
	d := obj(t, `spec:
  template:
    metadata: {labels: {app: registry, tier: pull}}
    spec:
      volumes:
        - {name: config, configMap: {name: registry-config-abc}}
        - {name: tmp, emptyDir: {}}
      containers: [{name: registry, image: r}]
`)
	p := Pods("Deployment", d)
	if p.Labels["app"] != "registry" || len(p.ConfigMaps) != 1 || p.ConfigMaps[0] != "registry-config-abc" || p.Unknown || len(p.Containers) != 1 {
		t.Errorf("pods = %+v", p)
	}
	if !Selects(map[string]string{"app": "registry"}, p.Labels) || Selects(map[string]string{"app": "other"}, p.Labels) || Selects(nil, p.Labels) {
		t.Errorf("Selects")
	}
	pod := obj(t, "metadata: {labels: {app: x}}\nspec: {containers: [{name: c}]}\n")
	if p := Pods("Pod", pod); p.Labels["app"] != "x" {
		t.Errorf("pod labels = %v", p.Labels)
	}
}

func TestPullEndpointReadOnly(t *testing.T) {
	pull, err := os.ReadFile("../../components/registry/testdata/external-http-pull.yml")
	if err != nil {
		t.Fatal(err)
	}
	push, err := os.ReadFile("../../components/registry/testdata/external-http-push.yml")
	if err != nil {
		t.Fatal(err)
	}
	registry := Container{Name: "registry", Kind: "container", Env: []EnvVar{{Name: "REGISTRY_HTTP_SECRET", FromRef: true}}}
	cases := []struct {
		name       string
		configs    []string
		containers []Container
		want       string
	}{
		{"the stack's pull endpoint", []string{string(pull)}, []Container{registry}, ""},
		{"the push config behind the node port", []string{string(push)}, []Container{registry}, "without storage.maintenance.readonly.enabled: true"},
		{"read-only turned off", []string{strings.Replace(string(pull), "readonly:\n      enabled: true", "readonly:\n      enabled: false", 1)}, []Container{registry}, "without storage.maintenance.readonly.enabled: true"},
		{"no registry config mounted", nil, []Container{registry}, "mounts no registry config.yml"},
		{"read-only off in the environment", []string{string(pull)}, []Container{{Name: "registry", Kind: "container",
			Env: []EnvVar{{Name: "REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED", Value: "false"}}}}, "REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED"},
		{"variables it does not name", []string{string(pull)}, []Container{{Name: "registry", Kind: "container", EnvFrom: true}}, "envFrom"},
	}
	for _, tc := range cases {
		got := PullEndpointReadOnly("registry", 32000, tc.configs, tc.containers)
		switch {
		case tc.want == "" && len(got) != 0:
			t.Errorf("%s: violations %v, want none", tc.name, got)
		case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)):
			t.Errorf("%s: violations %v, want one saying %q", tc.name, got, tc.want)
		}
	}
	if !IsRegistryConfig(string(pull)) || IsRegistryConfig("storage: {s3: {}}\n") || IsRegistryConfig("hello: world\n") {
		t.Errorf("IsRegistryConfig")
	}
}
