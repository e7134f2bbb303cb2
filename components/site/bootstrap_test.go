package site

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"airgap-site/components/internal/mocktest"
	"airgap-site/pki"
	"airgap-site/siteconfig"
	"airgap-site/talosconfig"
)

// sinkType is a resource the test program feeds an output into, to see what it depends on.
const sinkType = "test:index:Sink"

// With bootstrap.endpoint still set, the exported full patch waits for the registry's pull
// Service (itself waiting for the Deployment to be Ready) and names no bootstrap endpoint, nor
// its CA; the bootstrap patch keeps both, the CA read from the path bootstrap.ca gives.
func TestFullPatchWaitsForRegistryAndDropsBootstrap(t *testing.T) {
	caPEM, _, err := pki.NewCA("airgap bootstrap CA", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	project := t.TempDir()
	if err := os.WriteFile(filepath.Join(project, "ca.crt"), []byte(caPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	c := testConfig(t, `{"kind":"external","endpoint":"http://10.20.0.5:9000"}`)
	c.Bootstrap = siteconfig.Bootstrap{Endpoint: "https://10.20.0.100:5000", CA: "ca.crt"}
	c.Registry.Image = registryRef

	rec := &mocktest.Recorder{Outputs: generated}
	var mu sync.Mutex
	var full, boot string
	rec.Run(t, func(ctx *pulumi.Context) error {
		s, err := New(ctx, c.Site, Args{Config: c, Kubeconfig: "apiVersion: v1\nkind: Config\n", ProjectDir: project})
		if err != nil {
			return err
		}
		boot = string(s.Talos.BootstrapPatchYAML)
		s.MirrorPatch.ApplyT(func(p string) string {
			mu.Lock()
			defer mu.Unlock()
			full = p
			return p
		})
		var sink pulumi.CustomResourceState
		return ctx.RegisterResource(sinkType, "sink", pulumi.Map{"patch": s.MirrorPatch}, &sink)
	})
	mu.Lock()
	defer mu.Unlock()

	if !strings.Contains(boot, "https://10.20.0.100:5000") {
		t.Errorf("the bootstrap patch lost the bootstrap endpoint:\n%s", boot)
	}
	bm, err := talosconfig.Parse([]byte(boot))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(bm.Hosts, func(h talosconfig.Host) bool { return h.Host == "10.20.0.100:5000" && h.CA == caPEM }) {
		t.Errorf("the bootstrap patch does not carry the bootstrap CA for 10.20.0.100:5000: %+v", bm.Hosts)
	}

	if full == "" || !strings.Contains(full, pullPassword) {
		t.Fatalf("the full patch is not rendered with the pull identity:\n%s", full)
	}
	if strings.Contains(full, "10.20.0.100") || strings.Contains(full, strings.Split(caPEM, "\n")[1]) {
		t.Errorf("the full patch still carries the bootstrap endpoint or its CA:\n%s", full)
	}
	fm, err := talosconfig.Parse([]byte(full))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range fm.Mirrors {
		if len(m.Endpoints) != len(c.Nodes) {
			t.Errorf("full patch mirror %s: %d endpoints, want the %d nodes only", m.Key, len(m.Endpoints), len(c.Nodes))
		}
	}

	// What the full patch waits for: the registry's pull Service.
	sinks := rec.OfType(sinkType)
	if len(sinks) != 1 {
		t.Fatalf("%d sinks", len(sinks))
	}
	deps := sinks[0].RegisterRPC.GetPropertyDependencies()["patch"].GetUrns()
	if !slices.ContainsFunc(deps, func(u string) bool {
		return strings.HasSuffix(u, "kubernetes:core/v1:Service::"+c.Site)
	}) {
		b, _ := json.Marshal(deps)
		t.Errorf("the full patch does not depend on the registry Service: %s", b)
	}
}

// The bootstrap CA's path is read against the project; a missing file fails naming the field.
func TestBootstrapCAPathMissing(t *testing.T) {
	c := testConfig(t, `{"kind":"external","endpoint":"http://10.20.0.5:9000"}`)
	c.Bootstrap = siteconfig.Bootstrap{Endpoint: "https://10.20.0.100:5000", CA: "missing/ca.crt"}
	c.Registry.Image = registryRef
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := New(ctx, c.Site, Args{Config: c, Kubeconfig: "apiVersion: v1\nkind: Config\n", ProjectDir: t.TempDir()})
		return err
	}, pulumi.WithMocks("airgap-site", "test", &mocktest.Recorder{Outputs: generated}))
	if err == nil || !strings.Contains(err.Error(), "bootstrap.ca") {
		t.Errorf("New with a missing bootstrap CA file: %v", err)
	}
}
