package site

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"airgap-site/components/internal/mocktest"
	"airgap-site/siteconfig"
	"airgap-site/siteconfig/siteconfigtest"
)

// tenantType is the token pulumi-kubernetes gives a custom resource: group/version:Kind.
const tenantType = "kubernetes:minio.min.io/v2:Tenant"

const (
	s3Secret     = "s3-secret-value-0001"
	s3Access     = "s3-access-value-0001"
	rootPassword = "root-password-value-0001"
)

func testConfig(t *testing.T, objectStore string) *siteconfig.Config {
	t.Helper()
	src := siteconfigtest.Source(siteconfigtest.TwoNodes)
	src.Values[siteconfig.KeyObjectStore] = objectStore
	siteconfigtest.SetSecret(src, siteconfig.KeyS3AccessKey, s3Access)
	siteconfigtest.SetSecret(src, siteconfig.KeyS3SecretKey, s3Secret)
	if strings.Contains(objectStore, "minio-tenant") {
		siteconfigtest.SetSecret(src, siteconfig.KeyMinioRootUser, "minio-admin")
		siteconfigtest.SetSecret(src, siteconfig.KeyMinioRootPassword, rootPassword)
	}
	return siteconfigtest.Load(t, src)
}

func deploy(t *testing.T, c *siteconfig.Config) *mocktest.Recorder {
	t.Helper()
	rec := &mocktest.Recorder{}
	rec.Run(t, func(ctx *pulumi.Context) error {
		_, err := New(ctx, c.Site, Args{Config: c, Kubeconfig: "apiVersion: v1\nkind: Config\n"})
		return err
	})
	return rec
}

func TestExternalSiteGraph(t *testing.T) {
	rec := deploy(t, testConfig(t, `{"kind":"external","endpoint":"http://10.20.0.5:9000"}`))

	for token, want := range map[string]int{
		Type:                                       1,
		"airgap-site:objectstore:ObjectStore":      1,
		"airgap-site:registry:Registry":            1,
		"pulumi:providers:kubernetes":              1,
		"kubernetes:core/v1:Namespace":             1,
		"kubernetes:core/v1:Secret":                1,
		"kubernetes:core/v1:ConfigMap":             1,
		"kubernetes:apps/v1:Deployment":            1,
		"kubernetes:policy/v1:PodDisruptionBudget": 1,
		"kubernetes:core/v1:Service":               1,
		tenantType:                                 0,
	} {
		if got := len(rec.OfType(token)); got != want {
			t.Errorf("%s: %d resources, want %d", token, got, want)
		}
	}

	svc := rec.One(t, "kubernetes:core/v1:Service")
	spec := svc["spec"].ObjectValue()
	port := spec["ports"].ArrayValue()[0].ObjectValue()
	if spec["type"].StringValue() != "NodePort" || port["nodePort"].NumberValue() != 32000 || port["port"].NumberValue() != 5000 {
		t.Errorf("service spec = %v", spec)
	}

	dep := rec.One(t, "kubernetes:apps/v1:Deployment")
	dspec := dep["spec"].ObjectValue()
	if dspec["replicas"].NumberValue() != 2 {
		t.Errorf("replicas = %v, want 2", dspec["replicas"])
	}
	pod := dspec["template"].ObjectValue()["spec"].ObjectValue()
	container := pod["containers"].ArrayValue()[0].ObjectValue()
	refs := map[string]string{}
	for _, e := range container["env"].ArrayValue() {
		env := e.ObjectValue()
		if vf, ok := env["valueFrom"]; ok {
			ref := vf.ObjectValue()["secretKeyRef"].ObjectValue()
			refs[env["name"].StringValue()] = ref["name"].StringValue() + "/" + ref["key"].StringValue()
		}
	}
	want := map[string]string{
		"REGISTRY_STORAGE_S3_ACCESSKEY": "registry-credentials/s3-access-key",
		"REGISTRY_STORAGE_S3_SECRETKEY": "registry-credentials/s3-secret-key",
		"REGISTRY_HTTP_SECRET":          "registry-credentials/http-secret",
	}
	if fmt.Sprint(refs) != fmt.Sprint(want) {
		t.Errorf("secret env refs = %v, want %v", refs, want)
	}
	if container["readinessProbe"].ObjectValue()["httpGet"].ObjectValue()["path"].StringValue() != "/v2/" ||
		container["livenessProbe"].ObjectValue()["httpGet"].ObjectValue()["path"].StringValue() != "/v2/" {
		t.Errorf("probes must hit /v2/: %v", container)
	}
	if _, ok := pod["affinity"].ObjectValue()["podAntiAffinity"]; !ok {
		t.Errorf("no pod anti-affinity")
	}

	cm := rec.One(t, "kubernetes:core/v1:ConfigMap")
	cfgYAML := cm["data"].ObjectValue()["config.yml"].StringValue()
	for _, s := range []string{"disable: true", "forcepathstyle: true", "regionendpoint: http://10.20.0.5:9000"} {
		if !strings.Contains(cfgYAML, s) {
			t.Errorf("config.yml lacks %q:\n%s", s, cfgYAML)
		}
	}
	cmName := cm["metadata"].ObjectValue()["name"].StringValue()
	volName := pod["volumes"].ArrayValue()[0].ObjectValue()["configMap"].ObjectValue()["name"].StringValue()
	if volName != cmName {
		t.Errorf("deployment mounts ConfigMap %q, declared %q", volName, cmName)
	}

	assertNoPlaintextSecrets(t, rec, s3Secret, s3Access, HTTPSecret(testConfig(t, `{"kind":"external","endpoint":"http://10.20.0.5:9000"}`)))
}

func TestTenantSiteGraph(t *testing.T) {
	c := testConfig(t, `{"kind":"minio-tenant","tenant":{"servers":3,"volumesPerServer":2,"size":"20Gi"}}`)
	rec := deploy(t, c)
	crs := rec.OfType(tenantType)
	if len(crs) != 1 {
		t.Fatalf("%d custom resources, want 1 Tenant", len(crs))
	}
	cr := crs[0].Inputs
	if cr["apiVersion"].StringValue() != "minio.min.io/v2" || cr["kind"].StringValue() != "Tenant" {
		t.Errorf("custom resource is %v %v", cr["apiVersion"], cr["kind"])
	}
	spec := cr["spec"].ObjectValue()
	pool := spec["pools"].ArrayValue()[0].ObjectValue()
	if pool["servers"].NumberValue() != 3 || pool["volumesPerServer"].NumberValue() != 2 {
		t.Errorf("pool = %v", pool)
	}
	if spec["requestAutoCert"].BoolValue() || spec["buckets"].ArrayValue()[0].ObjectValue()["name"].StringValue() != "registry" {
		t.Errorf("tenant spec = %v", spec)
	}
	if got := len(rec.OfType("kubernetes:core/v1:Secret")); got != 3 {
		t.Errorf("%d Secrets, want 3 (tenant config, tenant user, registry credentials)", got)
	}
	if got := len(rec.OfType("kubernetes:core/v1:Namespace")); got != 2 {
		t.Errorf("%d Namespaces, want 2", got)
	}
	cfgYAML := rec.One(t, "kubernetes:core/v1:ConfigMap")["data"].ObjectValue()["config.yml"].StringValue()
	if !strings.Contains(cfgYAML, "regionendpoint: http://minio.minio-tenant.svc.cluster.local:80") {
		t.Errorf("registry does not point at the tenant:\n%s", cfgYAML)
	}
	// The registry must not start before the tenant exists.
	dep := rec.OfType("kubernetes:apps/v1:Deployment")[0]
	found := false
	for _, d := range dep.RegisterRPC.GetDependencies() {
		found = found || strings.Contains(d, tenantType)
	}
	if !found {
		t.Errorf("deployment does not depend on the tenant: %v", dep.RegisterRPC.GetDependencies())
	}
	assertNoPlaintextSecrets(t, rec, s3Secret, s3Access, rootPassword)
}

func TestHTTPSecretStableAndDistinct(t *testing.T) {
	c := testConfig(t, `{"kind":"external","endpoint":"http://10.20.0.5:9000"}`)
	a := HTTPSecret(c)
	if a != HTTPSecret(c) || len(a) != 64 || strings.Contains(a, s3Secret) {
		t.Errorf("derived http secret %q", a)
	}
	c.Site = "nagoya"
	if HTTPSecret(c) == a {
		t.Errorf("two sites share an http secret")
	}
	c.Secrets.RegistryHTTPSecret = siteconfig.NewSecret("explicit")
	if HTTPSecret(c) != "explicit" {
		t.Errorf("configured http secret ignored")
	}
}

// assertNoPlaintextSecrets walks every input of every resource: a secret value may appear
// only inside a value marked secret, so it is encrypted in state.
func assertNoPlaintextSecrets(t *testing.T, rec *mocktest.Recorder, secrets ...string) {
	t.Helper()
	var walk func(where string, v resource.PropertyValue)
	walk = func(where string, v resource.PropertyValue) {
		switch {
		case v.IsSecret():
			return
		case v.IsString():
			for _, s := range secrets {
				if strings.Contains(v.StringValue(), s) {
					t.Errorf("plaintext secret in %s", where)
				}
			}
		case v.IsArray():
			for i, e := range v.ArrayValue() {
				walk(fmt.Sprintf("%s[%d]", where, i), e)
			}
		case v.IsObject():
			for k, e := range v.ObjectValue() {
				walk(where+"."+string(k), e)
			}
		}
	}
	for _, res := range rec.Resources {
		for k, v := range res.Inputs {
			walk(res.TypeToken+" "+res.Name+"."+string(k), v)
		}
		if res.TypeToken == "kubernetes:core/v1:ConfigMap" {
			for k, v := range res.Inputs["data"].ObjectValue() {
				if v.IsSecret() {
					t.Errorf("ConfigMap key %s holds a secret", k)
				}
			}
		}
	}
}
