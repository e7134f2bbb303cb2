package objectstore

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"airgap-site/internal/golden"
	"airgap-site/siteconfig"
)

func TestRenderTenantGolden(t *testing.T) {
	defaults := siteconfig.DefaultTenant()
	withClass := siteconfig.DefaultTenant()
	withClass.Servers, withClass.VolumesPerServer, withClass.Size, withClass.StorageClass = 4, 4, "200Gi", "local-path"
	for name, tenant := range map[string]siteconfig.Tenant{"tenant-default.yaml": defaults, "tenant-4x4.yaml": withClass} {
		t.Run(name, func(t *testing.T) {
			o := siteconfig.New("osaka").ObjectStore
			o.Kind, o.Tenant = siteconfig.ObjectStoreMinioTenant, &tenant
			obj, err := RenderTenant("osaka", o)
			if err != nil {
				t.Fatal(err)
			}
			b, err := yaml.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, name, b)
			if !strings.Contains(string(b), "requestAutoCert: false") {
				t.Errorf("requestAutoCert must be written as false")
			}
		})
	}
}

func TestConfigEnvQuotes(t *testing.T) {
	got := ConfigEnv("admin", "pa ss$word")
	want := "export MINIO_ROOT_USER=\"admin\"\nexport MINIO_ROOT_PASSWORD=\"pa ss$word\"\n"
	if got != want {
		t.Errorf("ConfigEnv = %q, want %q", got, want)
	}
}

// With adminEndpoint the stack declares the registry's users (components/minio): the Tenant
// must not ask the operator for its consoleAdmin user.
func TestRenderTenantWithoutOperatorUser(t *testing.T) {
	tenant := siteconfig.DefaultTenant()
	tenant.AdminEndpoint = "http://127.0.0.1:9000"
	o := siteconfig.New("osaka").ObjectStore
	o.Kind, o.Tenant = siteconfig.ObjectStoreMinioTenant, &tenant
	obj, err := RenderTenant("osaka", o)
	if err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	if len(obj.Spec.Users) != 0 || strings.Contains(string(b), "users:") {
		t.Errorf("the Tenant lists users:\n%s", b)
	}
	tenant.AdminEndpoint = ""
	if obj, _ := RenderTenant("osaka", o); len(obj.Spec.Users) != 1 {
		t.Errorf("without adminEndpoint: users %v, want the operator's registry user", obj.Spec.Users)
	}
}
