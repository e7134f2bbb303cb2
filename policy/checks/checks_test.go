package checks

import (
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"airgap-site/talosconfig"
)

func obj(t *testing.T, y string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(y), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

var mirrors = map[string]bool{"docker.io": true, "ghcr.io": true, "10.20.0.11:32000": true,
	"123456789012.dkr.ecr.ap-northeast-2.amazonaws.com": true}

func TestContainersOfEveryWorkloadKind(t *testing.T) {
	pod := "containers: [{name: app, image: a}]\ninitContainers: [{name: init, image: b}]\nephemeralContainers: [{name: dbg, image: c}]"
	indent := func(s string, n int) string {
		return strings.ReplaceAll(s, "\n", "\n"+strings.Repeat(" ", n))
	}
	for kind, y := range map[string]string{
		"Deployment":  "spec:\n  template:\n    spec:\n      " + indent(pod, 6),
		"StatefulSet": "spec:\n  template:\n    spec:\n      " + indent(pod, 6),
		"DaemonSet":   "spec:\n  template:\n    spec:\n      " + indent(pod, 6),
		"Job":         "spec:\n  template:\n    spec:\n      " + indent(pod, 6),
		"CronJob":     "spec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          " + indent(pod, 10),
		"Pod":         "spec:\n  " + indent(pod, 2),
	} {
		cs := Containers(kind, obj(t, y))
		if len(cs) != 3 {
			t.Errorf("%s: %d containers, want 3 (init and ephemeral included): %+v", kind, len(cs), cs)
		}
	}
	if WorkloadKind("kubernetes:batch/v1:CronJob") != "CronJob" || WorkloadKind("kubernetes:core/v1:Service") != "" ||
		WorkloadKind("aws:ecs/service:Service") != "" {
		t.Errorf("WorkloadKind")
	}
}

func TestImageMirrored(t *testing.T) {
	cases := []struct {
		image string
		ok    bool
	}{
		{"nginx:1.27", true}, // docker.io/library/nginx
		{"docker.io/clickhouse/clickhouse-server:24.8", true},
		{"index.docker.io/library/redis:7", true},
		{"ghcr.io/org/app@sha256:" + strings.Repeat("a", 64), true},
		{"10.20.0.11:32000/tools/debug:1", true},
		{"123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/factory/mes-api:7", true},
		{"quay.io/prometheus/node-exporter:v1.8.0", false},
		{"gcr.io/distroless/static:nonroot", false},
		{"10.20.0.99:5000/app:1", false},
		{"not a reference!", false},
	}
	for _, tc := range cases {
		got := ImageMirrored(Container{Name: "c", Image: tc.image, Kind: "container"}, mirrors)
		if (len(got) == 0) != tc.ok {
			t.Errorf("%s: violations %v, want ok=%v", tc.image, got, tc.ok)
		}
		if !tc.ok && len(got) > 0 && !strings.Contains(got[0], "talos.upstreams") && !strings.Contains(got[0], "parsing") {
			t.Errorf("%s: message does not say how to fix: %s", tc.image, got[0])
		}
	}
}

func TestPullPolicyAndAdvisories(t *testing.T) {
	cases := []struct {
		c                    Container
		always, digest, tags bool // violations expected
	}{
		{Container{Image: "nginx:1.27", PullPolicy: "IfNotPresent"}, false, true, false},
		{Container{Image: "nginx:1.27", PullPolicy: "Always"}, true, true, false},
		{Container{Image: "nginx"}, false, true, true},
		{Container{Image: "nginx:latest"}, false, true, true},
		{Container{Image: "nginx@sha256:" + strings.Repeat("b", 64), PullPolicy: "Never"}, false, false, false},
	}
	for _, tc := range cases {
		if got := len(PullPolicyNotAlways(tc.c)) > 0; got != tc.always {
			t.Errorf("%+v: pull-always violation %v", tc.c, got)
		}
		if got := len(DigestPinned(tc.c)) > 0; got != tc.digest {
			t.Errorf("%+v: digest advisory %v", tc.c, got)
		}
		if got := len(NoLatestTag(tc.c)) > 0; got != tc.tags {
			t.Errorf("%+v: latest advisory %v", tc.c, got)
		}
	}
}

func TestRegistryConfig(t *testing.T) {
	rendered, err := os.ReadFile("../../components/registry/testdata/external-http-pull.yml")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, config string
		violations   int
	}{
		{"rendered config", string(rendered), 0},
		{"redirect enabled", strings.Replace(string(rendered), "disable: true", "disable: false", 1), 1},
		{"no redirect section", "storage:\n  s3: {bucket: b, region: r}\n", 1},
		{"no path style", strings.Replace(string(rendered), "forcepathstyle: true", "forcepathstyle: false", 1), 1},
		{"both", "storage:\n  s3: {regionendpoint: 'http://s3:9000'}\n", 2},
		{"filesystem storage", "storage:\n  filesystem: {rootdirectory: /var/lib/registry}\n", 0},
		{"not a registry config", "hello: world\n", 0},
	}
	for _, tc := range cases {
		if got := RegistryConfig(tc.config); len(got) != tc.violations {
			t.Errorf("%s: %d violations %v, want %d", tc.name, len(got), got, tc.violations)
		}
	}
}

func TestRegistryAccess(t *testing.T) {
	for _, f := range []string{"external-http-pull.yml", "external-http-push.yml", "plain-http-push.yml"} {
		rendered, err := os.ReadFile("../../components/registry/testdata/" + f)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		if strings.HasPrefix(f, "plain-http") {
			want = 2
		}
		if got := RegistryAccess(string(rendered)); len(got) != want {
			t.Errorf("%s: %d violations %v, want %d", f, len(got), got, want)
		}
	}
	for name, tc := range map[string]struct {
		config     string
		violations int
	}{
		"tls without auth":      {"storage: {s3: {}}\nhttp: {tls: {certificate: /c, key: /k}}\n", 1},
		"auth without tls":      {"storage: {s3: {}}\nhttp: {addr: ':5000'}\nauth: {htpasswd: {path: /h}}\n", 1},
		"token auth and tls":    {"storage: {s3: {}}\nhttp: {tls: {certificate: /c, key: /k}}\nauth: {token: {realm: r}}\n", 0},
		"certificate, no key":   {"storage: {s3: {}}\nhttp: {tls: {certificate: /c}}\nauth: {htpasswd: {path: /h}}\n", 1},
		"not a registry config": {"hello: world\n", 0},
	} {
		if got := RegistryAccess(tc.config); len(got) != tc.violations {
			t.Errorf("%s: %d violations %v, want %d", name, len(got), got, tc.violations)
		}
	}
}

func TestConfigMapSecrets(t *testing.T) {
	cases := []struct {
		name       string
		data       map[string]any
		secretKeys []string
		violations int
	}{
		{"registry config", map[string]any{"config.yml": "storage:\n  s3:\n    bucket: registry\n"}, nil, 0},
		{"registry htpasswd section", map[string]any{"config.yml": "auth:\n  htpasswd:\n    path: /etc/distribution/auth/htpasswd\n"}, nil, 0},
		{"inline password", map[string]any{"config.yml": "auth:\n  password: hunter2\n"}, nil, 1},
		{"pulumi secret value", map[string]any{"x": "v"}, []string{"x"}, 1},
		{"key names a password", map[string]any{"DB_PASSWORD": "hunter2"}, nil, 1},
		{"access key in a file", map[string]any{"config.yml": "storage:\n  s3:\n    accesskey: AKIA123\n"}, nil, 1},
		{"env file", map[string]any{"config.env": "export MINIO_ROOT_PASSWORD=x\n"}, nil, 1},
		{"token key empty", map[string]any{"token": ""}, nil, 0},
		{"innocent", map[string]any{"LOG_LEVEL": "info", "secretary": ""}, nil, 0},
	}
	for _, tc := range cases {
		if got := ConfigMapSecrets(tc.data, tc.secretKeys); len(got) != tc.violations {
			t.Errorf("%s: %d violations %v, want %d", tc.name, len(got), got, tc.violations)
		}
	}
}

func renderedPatch(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../talosconfig/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNodePortMatchesMirrors(t *testing.T) {
	for _, file := range []string{"v1.11-http-bootstrap.yaml", "v1.12-http-bootstrap.yaml"} {
		m, err := talosconfig.Parse([]byte(renderedPatch(t, file)))
		if err != nil {
			t.Fatal(err)
		}
		if got := NodePortMatchesMirrors(32000, m); len(got) != 0 {
			t.Errorf("%s with nodePort 32000: %v", file, got)
		}
		got := NodePortMatchesMirrors(32001, m)
		if len(got) == 0 || !strings.Contains(got[0], "32001") {
			t.Errorf("%s with nodePort 32001: %v", file, got)
		}
	}
	if got := NodePortMatchesMirrors(32000, &talosconfig.Mirrors{}); len(got) != 1 {
		t.Errorf("empty patch: %v", got)
	}
}

func TestTalosPatch(t *testing.T) {
	cases := []struct {
		name, patch string
		violations  int
	}{
		{"rendered v1.11", renderedPatch(t, "v1.11-http-bootstrap.yaml"), 0},
		{"rendered v1.12", renderedPatch(t, "v1.12-http-bootstrap.yaml"), 0},
		{"rendered https v1.12", renderedPatch(t, "v1.12-https-ca-auth.yaml"), 0},
		{"the user's snippet", `machine:
  registries:
    mirrors:
      https://10.20.0.11:32000:
        endpoints: [http://10.20.0.11:32000]
    config:
      https://10.20.0.11:32000:
        tls: {insecureSkipVerify: true}
`, 3},
		{"tls on http, right keys", `machine:
  registries:
    mirrors:
      docker.io: {endpoints: [http://10.20.0.11:32000/v2/docker.io], overridePath: true}
    config:
      10.20.0.11:32000: {tls: {insecureSkipVerify: true}}
`, 1},
		{"document with url name", "apiVersion: v1alpha1\nkind: RegistryMirrorConfig\nname: https://docker.io\nendpoints: [{url: http://10.20.0.11:32000/v2/docker.io}]\n", 1},
		{"endpoint without scheme", "machine:\n  registries:\n    mirrors:\n      docker.io: {endpoints: [10.20.0.11:32000]}\n", 1},
		{"garbage", "machine: [", 1},
	}
	for _, tc := range cases {
		if got := TalosPatch(tc.patch); len(got) != tc.violations {
			t.Errorf("%s: %d violations %v, want %d", tc.name, len(got), got, tc.violations)
		}
	}
}

func TestTenantDrives(t *testing.T) {
	cases := []struct {
		spec       string
		violations int
	}{
		{"pools: [{servers: 3, volumesPerServer: 2}]", 0},
		{"pools: [{servers: 4, volumesPerServer: 1}]", 0},
		{"pools: [{servers: 3, volumesPerServer: 1}]", 1},
		{"pools: [{servers: 1, volumesPerServer: 1}, {servers: 2, volumesPerServer: 1}]", 2},
		{"pools: [{servers: 3}]", 0}, // unknown during preview
	}
	for _, tc := range cases {
		if got := TenantDrives(obj(t, tc.spec)); len(got) != tc.violations {
			t.Errorf("%s: %v, want %d", tc.spec, got, tc.violations)
		}
	}
}
