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
