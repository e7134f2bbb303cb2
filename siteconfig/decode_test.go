package siteconfig_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	. "airgap-site/siteconfig"
)

// Each bad input is rejected in one run, naming the field as written in the stack file, with
// a problem in YAML terms (what to write), never a Go type name.
func TestDecodeNamesTheField(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(s MapSource)
		field string
		says  string // a part of the problem
	}{
		{"misspelt top-level key", func(s MapSource) { s.Values["regsitry"] = `{"replicas":3}` },
			"airgap-site:regsitry", "did you mean registry?"},
		{"misspelt top-level images", func(s MapSource) { s.Values["imgaes"] = `{"list":[]}` },
			"airgap-site:imgaes", "did you mean images?"},
		{"unknown top-level key", func(s MapSource) { s.Values["colour"] = "blue" },
			"airgap-site:colour", "the keys here are site, nodes, registry"},
		{"wrong case", func(s MapSource) { s.Values[KeyRegistry] = `{"nodeport":32000}` },
			"registry.nodeport", "did you mean nodePort? (keys are case-sensitive)"},
		{"typo in a nested key", func(s MapSource) { s.Values[KeyRegistry] = `{"tolerations":[{"key":"x","efect":"NoSchedule"}]}` },
			"registry.tolerations[0].efect", "did you mean effect?"},
		{"number as text", func(s MapSource) { s.Values[KeyRegistry] = `{"replicas":"two"}` },
			"registry.replicas", `expected a whole number, got the text "two"`},
		{"quoted number", func(s MapSource) { s.Values[KeyRegistry] = `{"nodePort":"32000"}` },
			"registry.nodePort", "write it without quotes, nodePort: 32000"},
		{"fraction", func(s MapSource) { s.Values[KeyImages] = `{"jobs":2.5}` },
			"images.jobs", "expected a whole number, got the number 2.5"},
		{"unquoted version", func(s MapSource) { s.Values[KeyTalos] = `{"version":1.1}` },
			"talos.version", `write it in quotes, version: "1.1" (YAML reads an unquoted number as a number: 1.10 becomes 1.1`},
		{"unquoted kubernetes version", func(s MapSource) { s.Values[KeyTalos] = `{"kubernetesVersion":1.3}` },
			"talos.kubernetesVersion", "expected text, got the number 1.3"},
		{"text for a list", func(s MapSource) { s.Values[KeyTalos] = `{"upstreams":"docker.io"}` },
			"talos.upstreams", `expected a list (` + "`- item`" + ` lines under upstreams:, or [a, b]), got the text "docker.io"`},
		{"yes for a boolean", func(s MapSource) { s.Values[KeyTalos] = `{"manage":"yes"}` },
			"talos.manage", `expected true or false (manage: true), got the text "yes"`},
		{"object for a list", func(s MapSource) { s.Values[KeyNodes] = `{"name":"cp-1"}` },
			"nodes", "expected a list"},
		{"misspelt node field", func(s MapSource) {
			s.Values[KeyNodes] = `[{"name":"cp-1","ip":"10.20.0.11","role":"controlplane"},{"name":"w-1","ipp":"10.20.0.12","role":"worker"}]`
		}, "nodes[1].ipp", "did you mean ip?"},
		{"number for an address", func(s MapSource) { s.Values[KeyNodes] = `[{"name":"cp-1","ip":10,"role":"controlplane"}]` },
			"nodes[0].ip", "expected text, got the number 10"},
		{"text for an object", func(s MapSource) { s.Values[KeyRegistry] = `registry` },
			"registry", "expected an object (indented `name: value` lines under registry:), got the text \"registry\""},
		{"list for a map", func(s MapSource) { s.Values[KeyRegistry] = `{"resources":{"requests":["cpu"]}}` },
			"registry.resources.requests", "expected an object"},
		{"number in a map of text", func(s MapSource) { s.Values[KeyRegistry] = `{"nodeSelector":{"zone":1}}` },
			"registry.nodeSelector.zone", "expected text, got the number 1"},
		{"quoted rotation counter", func(s MapSource) { s.Values[KeyRegistry] = `{"rotation":{"pullPassword":"1"}}` },
			"registry.rotation.pullPassword", "expected a whole number"},
		{"misspelt objectStore kind is the kind's fault", func(s MapSource) {
			s.Values[KeyObjectStore] = `{"kind":"minio-tenat","tenant":{"servers":4}}`
		}, "objectStore.kind", `"minio-tenat" is not "minio-tenant" or "external"`},
		{"unknown tenant field", func(s MapSource) { s.Values[KeyObjectStore] = `{"kind":"minio-tenant","tenant":{"drives":4}}` },
			"objectStore.tenant.drives", "unknown key"},
		{"quoted tenant servers", func(s MapSource) { s.Values[KeyObjectStore] = `{"kind":"minio-tenant","tenant":{"servers":"4"}}` },
			"objectStore.tenant.servers", "write it without quotes, servers: 4"},
		{"number for an image", func(s MapSource) { s.Values[KeyImages] = `{"list":[42]}` },
			"images.list[0]", "expected text or an object, got the number 42"},
		{"unknown image entry field", func(s MapSource) {
			s.Values[KeyImages] = `{"list":[{"image":"docker.io/library/nginx:1","pull":true}]}`
		},
			"images.list[0].pull", "the keys here are image, build"},
		{"wrong case in a build", func(s MapSource) {
			s.Values[KeyImages] = `{"list":[{"image":"docker.io/library/nginx:1","build":{"context":".","dockerFile":"x"}}]}`
		}, "images.list[0].build.dockerFile", "did you mean dockerfile?"},
		{"text for a key list", func(s MapSource) { s.Values[KeyImages] = `{"trustedKeys":"cosign.pub"}` },
			"images.trustedKeys", "expected a list"},
		{"quoted boolean", func(s MapSource) { s.Values[KeyImages] = `{"allowUnsigned":"true"}` },
			"images.allowUnsigned", `expected true or false (allowUnsigned: true), got the text "true"`},
		{"kubeconfig case", func(s MapSource) { s.Values[KeyKubernetes] = `{"kubeConfig":"./kc"}` },
			"kubernetes.kubeConfig", "did you mean kubeconfig?"},
		{"bootstrap typo", func(s MapSource) { s.Values[KeyBootstrap] = `{"endpont":"https://10.20.0.100:5000"}` },
			"bootstrap.endpont", "did you mean endpoint?"},
		{"validation next to a decode error", func(s MapSource) { s.Values[KeyRegistry] = `{"nodePort":99,"replicaz":2}` },
			"registry.nodePort", "99"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := validSource()
			tc.edit(s)
			c, _, err := Load(s, "osaka")
			if err == nil || c != nil {
				t.Fatalf("accepted")
			}
			fe := fieldError(err, tc.field)
			if fe == nil {
				t.Fatalf("no error names %s:\n%v", tc.field, err)
			}
			if !strings.Contains(fe.Problem, tc.says) {
				t.Errorf("%s: %q does not say %q", tc.field, fe.Problem, tc.says)
			}
			assertNoGoTypes(t, err)
		})
	}
}

// One run reports every problem of the stack: unknown keys, wrong kinds in several keys, and
// what validation finds in what did decode, each once; a key's defaults are not blamed for
// what its decode error already says.
func TestLoadReportsEverythingAtOnce(t *testing.T) {
	s := validSource()
	s.Values["regsitry"] = `{}`
	s.Values[KeyRegistry] = `{"nodeport":32000,"replicas":"2","logLevel":"loud"}`
	s.Values[KeyTalos] = `{"version":1.1,"applyMode":"sometimes"}`
	s.Values[KeyNodes] = `[{"name":"cp-1","ip":"10.20.0.300","role":"controlplane"}]`
	s.Values[KeyObjectStore] = `{"kind":"external","endpoint":"http://10.20.0.5:9000","bucket":"Bad_Bucket"}`
	_, _, err := Load(s, "osaka")
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("err = %v", err)
	}
	want := []string{"airgap-site:regsitry", "registry.nodeport", "registry.replicas", "registry.logLevel",
		"talos.version", "talos.applyMode", "nodes[0].ip", "objectStore.bucket"}
	for _, f := range want {
		if fieldError(err, f) == nil {
			t.Errorf("no error names %s", f)
		}
	}
	seen := map[string]bool{}
	for _, e := range verr.Errors {
		var fe *FieldError
		if errors.As(e, &fe) {
			if seen[fe.Field] {
				t.Errorf("%s reported twice", fe.Field)
			}
			seen[fe.Field] = true
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d fields reported, want %d:\n%v", len(seen), len(want), err)
	}
	assertNoGoTypes(t, err)
}

// The top-level keys are exactly the fields of the typed config and its secrets.
func TestTopLevelKeys(t *testing.T) {
	got := strings.Join(TopLevelKeys(), ",")
	for _, k := range []string{KeySite, KeyNodes, KeyRegistry, KeyObjectStore, KeyKubernetes, KeyTalos, KeyBootstrap, KeyImages,
		KeyS3AccessKey, KeyS3SecretKey, KeyMinioRootUser, KeyMinioRootPassword, KeyRegistryHTTPSecret} {
		if !strings.Contains(","+got+",", ","+k+",") {
			t.Errorf("TopLevelKeys lacks %s: %s", k, got)
		}
	}
	if strings.Contains(got, "secrets") {
		t.Errorf("secrets is not a key: %s", got)
	}
}

func fieldError(err error, field string) *FieldError {
	var verr *ValidationError
	if !errors.As(err, &verr) {
		return nil
	}
	for _, e := range verr.Errors {
		var fe *FieldError
		if errors.As(e, &fe) && fe.Field == field {
			return fe
		}
	}
	return nil
}

var goTypes = regexp.MustCompile(`float64|int64|interface \{\}|\[\]interface|map\[string\]|\[\]string|siteconfig\.|json: `)

func assertNoGoTypes(t *testing.T, err error) {
	t.Helper()
	if m := goTypes.FindString(err.Error()); m != "" {
		t.Errorf("message shows the Go type %q:\n%v", m, err)
	}
}
