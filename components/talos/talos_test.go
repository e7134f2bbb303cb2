package talos

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"airgap-site/components/internal/mocktest"
	"airgap-site/siteconfig"
	"airgap-site/siteconfig/siteconfigtest"
	"airgap-site/sitecontract"
	"airgap-site/talosconfig"
)

// talosMocks answers like pulumi-talos: Secrets produce client configuration and machine
// secrets, getConfiguration a machine config of the asked type, Kubeconfig a kubeconfig.
func talosMocks() *mocktest.Recorder {
	return &mocktest.Recorder{
		Outputs: func(args pulumi.MockResourceArgs) resource.PropertyMap {
			switch args.TypeToken {
			case sitecontract.TalosSecrets:
				return resource.PropertyMap{
					"clientConfiguration": resource.NewObjectProperty(resource.PropertyMap{
						"caCertificate": resource.NewStringProperty("ca"), "clientCertificate": resource.NewStringProperty("crt"),
						"clientKey": resource.NewStringProperty("key"),
					}),
					"machineSecrets": resource.NewObjectProperty(resource.PropertyMap{
						"cluster": resource.NewObjectProperty(resource.PropertyMap{"id": resource.NewStringProperty("cluster-id")}),
					}),
				}
			case sitecontract.TalosKubeconfig:
				return resource.PropertyMap{"kubeconfigRaw": resource.NewStringProperty("apiVersion: v1\nkind: Config\n")}
			}
			return nil
		},
		Invoke: func(args pulumi.MockCallArgs) resource.PropertyMap {
			if args.Token != sitecontract.TalosGetConfiguration {
				return nil
			}
			return resource.PropertyMap{"machineConfiguration": resource.NewStringProperty(
				"version: v1alpha1\nmachine:\n  type: " + args.Args["machineType"].StringValue() + "\n")}
		},
	}
}

func managedSite(t *testing.T, extra string) *siteconfig.Config {
	t.Helper()
	src := siteconfigtest.Source(siteconfigtest.ThreeControlPlanes)
	src.Values[siteconfig.KeyTalos] = `{"manage":true,"version":"v1.11.5","bootstrapCluster":true,"applyMode":"no_reboot"` + extra + `}`
	return siteconfigtest.Load(t, src)
}

// Stand-ins for the generated credentials: the component only passes them to the renderer.
const (
	testCA           = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	testPullPassword = "pull-password-from-state"
)

func deployTalos(t *testing.T, c *siteconfig.Config) (*mocktest.Recorder, *Talos) {
	t.Helper()
	rec := talosMocks()
	var tl *Talos
	rec.Run(t, func(ctx *pulumi.Context) error {
		var err error
		tl, err = New(ctx, "osaka", c, &Credentials{
			CA: pulumi.String(testCA).ToStringOutput(), PullPassword: pulumi.String(testPullPassword).ToStringOutput(),
		})
		return err
	})
	return rec, tl
}

func TestManagedPerNodeGraph(t *testing.T) {
	c := managedSite(t, `,"patches":[{"machine":{"time":{"servers":["10.20.0.1"]}}}]`)
	c.Nodes[2].Role = siteconfig.RoleWorker
	rec, _ := deployTalos(t, c)

	if n := len(rec.OfType(sitecontract.TalosSecrets)); n != 1 {
		t.Errorf("%d Secrets, want 1", n)
	}
	applies := rec.OfType(sitecontract.TalosConfigurationApply)
	if len(applies) != 3 {
		t.Fatalf("%d ConfigurationApply, want one per node", len(applies))
	}
	want, _ := talosconfig.Render(talosconfig.Build(c.MirrorSpec(testCA, testPullPassword)), c.Talos.Version)
	if !strings.Contains(string(want), testPullPassword) || !strings.Contains(string(want), "site-pull") {
		t.Fatalf("the expected patch carries no pull credentials:\n%s", want)
	}
	// Registration order under mocks follows output resolution, so match applies by node.
	byIP := map[string]resource.PropertyMap{}
	for _, a := range applies {
		byIP[a.Inputs["node"].StringValue()] = a.Inputs
	}
	for i, n := range c.Nodes {
		in, ok := byIP[n.IP]
		if !ok {
			t.Fatalf("no ConfigurationApply for node %s", n.IP)
		}
		if in["endpoint"].StringValue() != n.IP {
			t.Errorf("apply %d endpoint %v", i, in["endpoint"])
		}
		if in["applyMode"].StringValue() != "no_reboot" {
			t.Errorf("apply %d mode %v", i, in["applyMode"])
		}
		patches := in["configPatches"].ArrayValue()
		if len(patches) != 2 || !patches[0].IsSecret() || patches[0].SecretValue().Element.StringValue() != string(want) ||
			!strings.Contains(patches[1].StringValue(), "10.20.0.1") {
			t.Errorf("apply %d patches (the mirror patch must be secret) = %v", i, patches)
		}
		machineConfig := in["machineConfigurationInput"]
		if !machineConfig.IsSecret() {
			t.Errorf("apply %d: machine configuration is not secret", i)
		}
		wantType := "type: " + string(c.Nodes[i].Role)
		if !strings.Contains(machineConfig.SecretValue().Element.StringValue(), wantType) {
			t.Errorf("apply %d: machine config for the wrong role: %v", i, machineConfig)
		}
		if in["clientConfiguration"].ObjectValue()["clientKey"].IsNull() {
			t.Errorf("apply %d: no client configuration", i)
		}
	}
	// One generated configuration per role, not per node.
	if n := len(rec.Calls); n != 2 {
		t.Errorf("%d getConfiguration invokes, want 2 (controlplane, worker)", n)
	}
	boot := rec.One(t, sitecontract.TalosBootstrap)
	if boot["node"].StringValue() != "10.20.0.11" {
		t.Errorf("bootstrap on %v, want the first control plane", boot["node"])
	}
	bootDeps := strings.Join(rec.OfType(sitecontract.TalosBootstrap)[0].RegisterRPC.GetDependencies(), " ")
	for _, n := range c.Nodes {
		if !strings.Contains(bootDeps, "ConfigurationApply::osaka-"+n.Name) {
			t.Errorf("bootstrap does not wait for the configuration of %s: %s", n.Name, bootDeps)
		}
	}
	kc := rec.OfType(sitecontract.TalosKubeconfig)
	if len(kc) != 1 || !strings.Contains(strings.Join(kc[0].RegisterRPC.GetDependencies(), ","), "Bootstrap") {
		t.Errorf("kubeconfig must wait for the bootstrap: %v", kc)
	}
}

func TestUnmanagedRendersOnly(t *testing.T) {
	src := siteconfigtest.Source(siteconfigtest.ThreeControlPlanes)
	src.Values[siteconfig.KeyTalos] = `{"version":"v1.12.11"}`
	c := siteconfigtest.Load(t, src)
	rec, tl := deployTalos(t, c)
	for _, tok := range []string{sitecontract.TalosSecrets, sitecontract.TalosConfigurationApply, sitecontract.TalosBootstrap, sitecontract.TalosKubeconfig} {
		if n := len(rec.OfType(tok)); n != 0 {
			t.Errorf("%d %s with talos.manage false", n, tok)
		}
	}
	if !strings.Contains(string(tl.BootstrapPatchYAML), "kind: RegistryMirrorConfig") || tl.Managed {
		t.Errorf("patch not rendered for v1.12:\n%s", tl.BootstrapPatchYAML)
	}
	if strings.Contains(string(tl.BootstrapPatchYAML), "RegistryAuthConfig") {
		t.Errorf("the bootstrap patch carries credentials:\n%s", tl.BootstrapPatchYAML)
	}
}

func TestExistingClusterWithoutBootstrap(t *testing.T) {
	c := managedSite(t, "")
	c.Talos.BootstrapCluster = false
	rec, _ := deployTalos(t, c)
	if n := len(rec.OfType(sitecontract.TalosBootstrap)); n != 0 {
		t.Errorf("an existing cluster must not be bootstrapped again")
	}
	if n := len(rec.OfType(sitecontract.TalosKubeconfig)); n != 1 {
		t.Errorf("%d Kubeconfig, want 1", n)
	}
}
