package siteconfig_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	. "airgap-site/siteconfig"
	"airgap-site/siteconfig/siteconfigtest"
)

// validSource is the shared fixture, a complete external-S3 site; each table case changes one
// thing.
func validSource() MapSource { return siteconfigtest.Source(siteconfigtest.ThreeNodes) }

func tenantSource() MapSource {
	s := validSource()
	s.Values[KeyObjectStore] = `{"kind":"minio-tenant"}`
	s.Values[KeyMinioRootUser] = "minio-admin"
	s.Values[KeyMinioRootPassword] = "minio-root-password"
	s.Secret[KeyMinioRootUser] = true
	s.Secret[KeyMinioRootPassword] = true
	return s
}

func TestLoadDefaults(t *testing.T) {
	c, warnings, err := Load(validSource(), "osaka")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings = %v, want none", warnings)
	}
	if c.Site != "osaka" || c.Registry.NodePort != 32000 || c.Registry.Replicas != 2 ||
		c.Registry.Namespace != DefaultRegistryNamespace || c.ObjectStore.Bucket != "registry" ||
		c.ObjectStore.Tenant != nil {
		t.Errorf("defaults not applied: %+v", c)
	}
	want := []string{"10.20.0.11:32000", "10.20.0.12:32000", "10.20.0.13:32000"}
	if got := c.RegistryEndpoints(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("RegistryEndpoints = %v, want %v", got, want)
	}
	if c.Secrets.S3SecretKey.Reveal() != "registry-secret-key" {
		t.Errorf("secret not loaded")
	}
}

func TestLoadTenantDefaultsAndOverrides(t *testing.T) {
	s := tenantSource()
	s.Values[KeyObjectStore] = `{"kind":"minio-tenant","tenant":{"servers":4,"volumesPerServer":1,"storageClass":"local-path"}}`
	c, _, err := Load(s, "osaka")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	tn := c.ObjectStore.Tenant
	if tn == nil || tn.Servers != 4 || tn.VolumesPerServer != 1 || tn.StorageClass != "local-path" ||
		tn.Size != DefaultTenantSize || tn.Name != DefaultTenantName {
		t.Errorf("tenant = %+v", tn)
	}
}

func TestExplicitZeroIsNotDefaulted(t *testing.T) {
	s := validSource()
	s.Values[KeyRegistry] = `{"replicas":0}`
	_, _, err := Load(s, "osaka")
	assertFieldError(t, err, "registry.replicas")
}

func TestSingleReplicaWarns(t *testing.T) {
	s := validSource()
	s.Values[KeyRegistry] = `{"replicas":1}`
	_, warnings, err := Load(s, "osaka")
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "replicas is 1") {
		t.Errorf("warnings = %v", warnings)
	}
}

// TestLoadRejects is the table of malformed configs: each must fail before any resource is
// declared, with an error naming the field at fault.
func TestPlainHTTPWarnsAndDropsCredentials(t *testing.T) {
	s := validSource()
	_, warnings, err := Load(s, "osaka")
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, "plainHTTP") }) {
		t.Errorf("default site warns about plain http: %v", warnings)
	}
	s.Values[KeyRegistry] = `{"plainHTTP":true}`
	c, warnings, err := Load(s, "osaka")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, "registry.plainHTTP is true") }) {
		t.Errorf("plain http without a warning: %v", warnings)
	}
	spec := c.MirrorSpec("CA PEM", "secret")
	if spec.Scheme != "http" || spec.CA != "" || spec.Username != "" || spec.Password != "" {
		t.Errorf("plain-http mirror spec carries TLS or credentials: %+v", spec)
	}
}

func TestLoadRejects(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(s MapSource)
		field string
	}{
		{"no nodes", func(s MapSource) { s.Values[KeyNodes] = `[]` }, "nodes"},
		{"bad ip", func(s MapSource) { setNode(s, 1, "ip", "10.20.0.300") }, "nodes[1].ip"},
		{"ip with port", func(s MapSource) { setNode(s, 0, "ip", "10.20.0.11:32000") }, "nodes[0].ip"},
		{"ip as url", func(s MapSource) { setNode(s, 0, "ip", "https://10.20.0.11") }, "nodes[0].ip"},
		{"duplicate ip", func(s MapSource) { setNode(s, 2, "ip", "10.20.0.11") }, "nodes[2].ip"},
		{"duplicate ip as mapped ipv6", func(s MapSource) { setNode(s, 2, "ip", "::ffff:10.20.0.11") }, "nodes[2].ip"},
		{"upper-case ipv6", func(s MapSource) { setNode(s, 2, "ip", "FD00::13") }, "nodes[2].ip"},
		{"duplicate name", func(s MapSource) { setNode(s, 1, "name", "cp-1") }, "nodes[1].name"},
		{"missing name", func(s MapSource) { setNode(s, 1, "name", "") }, "nodes[1].name"},
		{"bad role", func(s MapSource) { setNode(s, 1, "role", "master") }, "nodes[1].role"},
		{"missing role", func(s MapSource) { setNode(s, 2, "role", "") }, "nodes[2].role"},
		{"nodePort low", func(s MapSource) { s.Values[KeyRegistry] = `{"nodePort":5000}` }, "registry.nodePort"},
		{"nodePort high", func(s MapSource) { s.Values[KeyRegistry] = `{"nodePort":32768}` }, "registry.nodePort"},
		{"nodePort string", func(s MapSource) { s.Values[KeyRegistry] = `{"nodePort":"32000"}` }, "registry"},
		{"replicas negative", func(s MapSource) { s.Values[KeyRegistry] = `{"replicas":-1}` }, "registry.replicas"},
		{"push port is the pull port", func(s MapSource) { s.Values[KeyRegistry] = `{"nodePort":31000,"pushNodePort":31000}` }, "registry.pushNodePort"},
		{"push port out of range", func(s MapSource) { s.Values[KeyRegistry] = `{"pushNodePort":80}` }, "registry.pushNodePort"},
		{"negative rotation", func(s MapSource) { s.Values[KeyRegistry] = `{"rotation":{"pullPassword":-1}}` }, "registry.rotation.pullPassword"},
		{"misspelt field", func(s MapSource) { s.Values[KeyRegistry] = `{"node_port":32001}` }, "registry"},
		{"bad image", func(s MapSource) { s.Values[KeyRegistry] = `{"image":"registry"}` }, "registry.image"},
		{"bad quantity", func(s MapSource) {
			s.Values[KeyRegistry] = `{"resources":{"limits":{"memory":"lots"}}}`
		}, "registry.resources.limits.memory"},
		{"request above limit", func(s MapSource) {
			s.Values[KeyRegistry] = `{"resources":{"requests":{"memory":"1Gi"},"limits":{"memory":"512Mi"}}}`
		}, "registry.resources.requests.memory"},
		{"bad node selector key", func(s MapSource) { s.Values[KeyRegistry] = `{"nodeSelector":{"bad key!":"x"}}` }, `registry.nodeSelector["bad key!"]`},
		{"bad toleration effect", func(s MapSource) {
			s.Values[KeyRegistry] = `{"tolerations":[{"key":"dedicated","operator":"Equal","value":"infra","effect":"Never"}]}`
		}, "registry.tolerations[0].effect"},
		{"toleration without key", func(s MapSource) { s.Values[KeyRegistry] = `{"tolerations":[{"effect":"NoSchedule"}]}` }, "registry.tolerations[0].key"},
		{"bad namespace", func(s MapSource) { s.Values[KeyRegistry] = `{"namespace":"Airgap_Registry"}` }, "registry.namespace"},
		{"unknown objectStore kind", func(s MapSource) { s.Values[KeyObjectStore] = `{"kind":"nfs"}` }, "objectStore.kind"},
		{"missing objectStore kind", func(s MapSource) { s.Values[KeyObjectStore] = `{"endpoint":"http://s3:9000"}` }, "objectStore.kind"},
		{"missing endpoint", func(s MapSource) { s.Values[KeyObjectStore] = `{"kind":"external"}` }, "objectStore.endpoint"},
		{"endpoint without scheme", func(s MapSource) {
			s.Values[KeyObjectStore] = `{"kind":"external","endpoint":"10.20.0.5:9000"}`
		}, "objectStore.endpoint"},
		{"endpoint with bucket path", func(s MapSource) {
			s.Values[KeyObjectStore] = `{"kind":"external","endpoint":"http://10.20.0.5:9000/registry"}`
		}, "objectStore.endpoint"},
		{"bad bucket", func(s MapSource) {
			s.Values[KeyObjectStore] = `{"kind":"external","endpoint":"http://s3:9000","bucket":"Registry_Images"}`
		}, "objectStore.bucket"},
		{"tenant with external", func(s MapSource) {
			s.Values[KeyObjectStore] = `{"kind":"external","endpoint":"http://s3:9000","tenant":{"servers":3}}`
		}, "objectStore.tenant"},
		{"missing s3 secret key", func(s MapSource) { delete(s.Values, KeyS3SecretKey) }, KeyS3SecretKey},
		{"missing s3 access key", func(s MapSource) { delete(s.Values, KeyS3AccessKey) }, KeyS3AccessKey},
		{"plaintext secret", func(s MapSource) { s.Secret[KeyS3SecretKey] = false }, KeyS3SecretKey},
		{"bad site name", func(s MapSource) { s.Values[KeySite] = "Osaka Plant" }, KeySite},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := validSource()
			tc.edit(s)
			c, _, err := Load(s, "osaka")
			if c != nil {
				t.Errorf("Load returned a config along with the error")
			}
			assertFieldError(t, err, tc.field)
		})
	}
}

func TestLoadRejectsTenant(t *testing.T) {
	cases := []struct {
		name   string
		tenant string
		edit   func(s MapSource)
		field  string
	}{
		{"3 servers x 1 volume", `{"servers":3,"volumesPerServer":1}`, nil, "objectStore.tenant.volumesPerServer"},
		{"zero servers", `{"servers":0}`, nil, "objectStore.tenant.servers"},
		{"bad size", `{"size":"big"}`, nil, "objectStore.tenant.size"},
		{"unknown tenant field", `{"drives":4}`, nil, "objectStore.tenant"},
		{"missing root password", `{}`, func(s MapSource) { delete(s.Values, KeyMinioRootPassword) }, KeyMinioRootPassword},
		{"short root password", `{}`, func(s MapSource) { s.Values[KeyMinioRootPassword] = "short" }, KeyMinioRootPassword},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tenantSource()
			s.Values[KeyObjectStore] = `{"kind":"minio-tenant","tenant":` + tc.tenant + `}`
			if tc.edit != nil {
				tc.edit(s)
			}
			_, _, err := Load(s, "osaka")
			assertFieldError(t, err, tc.field)
		})
	}
	// The same tenant with an endpoint: the endpoint belongs to kind external.
	s := tenantSource()
	s.Values[KeyObjectStore] = `{"kind":"minio-tenant","endpoint":"http://x:9000"}`
	_, _, err := Load(s, "osaka")
	assertFieldError(t, err, "objectStore.endpoint")
}

func TestAllErrorsReportedAtOnce(t *testing.T) {
	s := validSource()
	setNode(s, 1, "ip", "bad")
	s.Values[KeyRegistry] = `{"nodePort":1,"replicas":0}`
	_, _, err := Load(s, "osaka")
	var verr *ValidationError
	if !errors.As(err, &verr) || len(verr.Errors) != 3 {
		t.Fatalf("want 3 field errors, got %v", err)
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	c, _, err := Load(tenantSource(), "osaka")
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(c)
	for _, out := range []string{fmt.Sprintf("%v %+v %#v %s", c, c, c, c.Secrets.S3SecretKey), string(js)} {
		for _, secret := range []string{"registry-secret-key", "minio-root-password"} {
			if strings.Contains(out, secret) {
				t.Errorf("secret %q printed in %q", secret, out)
			}
		}
	}
}

func assertFieldError(t *testing.T, err error, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error naming %q, got none", field)
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("want a FieldError, got %T: %v", err, err)
	}
	var verr *ValidationError
	errors.As(err, &verr)
	for _, e := range verr.Errors {
		// The field, or a field inside it (registry.nodePort names registry).
		if errors.As(e, &fe) && (fe.Field == field || strings.HasPrefix(fe.Field, field+".") || strings.HasPrefix(fe.Field, field+"[")) {
			if fe.Problem == "" {
				t.Errorf("field %s: empty explanation", field)
			}
			return
		}
	}
	t.Errorf("no error names %q; got:\n%v", field, err)
}

// setNode rewrites one field of one node in the source's node list.
func setNode(s MapSource, i int, key, value string) {
	var nodes []map[string]string
	if err := json.Unmarshal([]byte(s.Values[KeyNodes]), &nodes); err != nil {
		panic(err)
	}
	nodes[i][key] = value
	b, _ := json.Marshal(nodes)
	s.Values[KeyNodes] = string(b)
}
