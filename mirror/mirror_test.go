package mirror_test

import (
	"fmt"
	"strings"
	"testing"

	"airgap-site/mirror"
)

func TestNormalize(t *testing.T) {
	dgst := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		in, want string
	}{
		{"nginx:1.27", "docker.io/library/nginx:1.27"},
		{"nginx", "docker.io/library/nginx:latest"},
		{"docker.io/nginx:1.27", "docker.io/library/nginx:1.27"},
		{"docker.io/library/nginx:1.27", "docker.io/library/nginx:1.27"},
		{"index.docker.io/x/y:1", "docker.io/x/y:1"},
		{"clickhouse/clickhouse-server:24.8", "docker.io/clickhouse/clickhouse-server:24.8"},
		{"registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"},
		{"quay.io/org/sub/app", "quay.io/org/sub/app:latest"},
		{"localhost:5000/app:dev", "localhost:5000/app:dev"},
		{"10.20.0.11:32000/team/app:1", "10.20.0.11:32000/team/app:1"},
		{"ghcr.io/org/app@" + dgst, "ghcr.io/org/app@" + dgst},
		{"ghcr.io/org/app:1.0@" + dgst, "ghcr.io/org/app@" + dgst},
		{"busybox@" + dgst, "docker.io/library/busybox@" + dgst},
		{"", ""},
		{"Nginx:1.27", ""},
		{"nginx:bad tag", ""},
		{"nginx@sha256:abc", ""},
		{"https://ghcr.io/org/app:1", ""},
		{"ghcr.io/org/app:", ""},
	} {
		got, err := mirror.Normalize(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("Normalize(%q) = %q, want an error", tc.in, got)
			} else if !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.in)) {
				t.Errorf("Normalize(%q) error %q does not name the reference", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		// Normalized references are fixed points.
		if again, err := mirror.Normalize(got); err != nil || again != got {
			t.Errorf("Normalize(%q) = %q, %v; want it unchanged", got, again, err)
		}
	}
}

func TestTargetOf(t *testing.T) {
	ecr := "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com"
	a, b := strings.Repeat("a", 64), strings.Repeat("b", 64)
	for image, want := range map[string]mirror.Target{
		"nginx:1.27": {Reference: "docker.io/library/nginx:1.27", Upstream: "docker.io", Repository: "docker.io/library/nginx", Tag: "1.27"},
		ecr + "/factory/mes-api:7": {Reference: ecr + "/factory/mes-api:7",
			Upstream: ecr, Repository: ecr + "/factory/mes-api", Tag: "7"},
		"redis@sha256:" + b: {Reference: "docker.io/library/redis@sha256:" + b,
			Upstream: "docker.io", Repository: "docker.io/library/redis", Tag: "sha256-" + b, Digest: "sha256:" + b},
		"registry.local:5443/factory/mes:7": {Reference: "registry.local:5443/factory/mes:7",
			Upstream: "registry.local:5443", Repository: "registry.local_5443/factory/mes", Tag: "7"},
		"registry.local:5443/factory/mes@sha256:" + a: {Reference: "registry.local:5443/factory/mes@sha256:" + a,
			Upstream: "registry.local:5443", Repository: "registry.local_5443/factory/mes", Tag: "sha256-" + a, Digest: "sha256:" + a},
	} {
		got, err := mirror.TargetOf(image)
		if err != nil || got != want {
			t.Errorf("TargetOf(%s) = %+v, %v; want %+v", image, got, err, want)
		}
	}
	for bad, want := range map[string]string{
		"Not A Ref":                 `"Not A Ref"`,
		"Docker.IO/library/nginx:1": `write "docker.io"`,
		"[fd00::1]:5000/app:1":      "IPv6 literal",
	} {
		if _, err := mirror.TargetOf(bad); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("TargetOf(%q) error = %v, want one containing %s", bad, err, want)
		}
	}
}

// TestRepositoryRoundTrip: every target's repository is a valid repository name, and reads
// back into the original reference, which is what the bundle server relies on.
func TestRepositoryRoundTrip(t *testing.T) {
	for _, ref := range []string{
		"docker.io/library/nginx:1.27",
		"registry.local:5443/factory/mes:7",
		"localhost:5000/app:dev",
		"10.20.0.11:32000/team/app:1",
		"ghcr.io/org/app@sha256:" + strings.Repeat("c", 64),
		"my-registry.example.com:443/a/b/c:v1.2",
	} {
		tg, err := mirror.TargetOf(ref)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(tg.Repository, ":") {
			t.Errorf("%s: repository %q holds a ':'", ref, tg.Repository)
		}
		tagOrDigest := tg.Tag
		if tg.Digest != "" {
			tagOrDigest = tg.Digest
		}
		// The repository must be accepted as a repository in some registry.
		if _, err := mirror.Normalize("site.invalid/" + tg.Repository + ":x"); err != nil {
			t.Errorf("%s: repository %q is not a valid repository name: %v", ref, tg.Repository, err)
		}
		back, err := mirror.Reference(tg.Repository, tagOrDigest)
		if err != nil || back != tg.Reference {
			t.Errorf("Reference(%q, %q) = %q, %v; want %q", tg.Repository, tagOrDigest, back, err, tg.Reference)
		}
	}
	if got := mirror.EndpointPath("registry.local:5443"); got != "/v2/registry.local_5443" {
		t.Errorf("EndpointPath = %q", got)
	}
	if got := mirror.EndpointPath("docker.io"); got != "/v2/docker.io" {
		t.Errorf("EndpointPath = %q", got)
	}
}

func TestHostPortProblem(t *testing.T) {
	for _, ok := range []string{"docker.io", "10.20.0.11:32000", "registry.local:5443", "[fd00::1]:5000", "localhost"} {
		if msg := mirror.HostPortProblem(ok); msg != "" {
			t.Errorf("HostPortProblem(%q) = %q, want none", ok, msg)
		}
	}
	for bad, want := range map[string]string{
		"https://10.20.0.11:32000": "is a URL",
		"Docker.IO":                `write "docker.io"`,
		"docker.io/library":        "not a registry host",
		"registry.local:99999":     "invalid port",
		"under_score.io":           "not a registry host",
	} {
		if msg := mirror.HostPortProblem(bad); !strings.Contains(msg, want) {
			t.Errorf("HostPortProblem(%q) = %q, want it to contain %q", bad, msg, want)
		}
	}
}
