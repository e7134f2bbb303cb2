package talos

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"sigs.k8s.io/yaml"

	"airgap-site/siteconfig"
)

// Type is the component's Pulumi type token.
const Type = "airgap-site:talos:Talos"

// Talos is the Talos side of a site.
type Talos struct {
	pulumi.ResourceState

	// Patch is the rendered mirror patch applied to the nodes (talos.manage), with the site CA
	// and the pull credentials (secret), and the bootstrap endpoint while it is configured:
	// the registry's own image comes from the laptop on the first up. Removing
	// bootstrap.endpoint and running up again applies it without. ReadyPatch is what the
	// stack exports.
	Patch pulumi.StringOutput `pulumi:"patch"`
	// BootstrapPatchYAML is the patch without credentials, known at plan time: what
	// `airgap site patch` prints before the first up generated them.
	BootstrapPatchYAML []byte
	// Kubeconfig is the cluster's admin kubeconfig when Talos is managed; unset otherwise.
	Kubeconfig pulumi.StringOutput
	// Managed reports whether node configuration is applied.
	Managed bool
	// Applies are the per-node ConfigurationApply resources, in node order.
	Applies []*ConfigurationApply
}

// Credentials are what nodes need to pull from the site registry: the site CA (PEM) and the
// pull identity's password. Nil for a registry.plainHTTP site.
type Credentials struct {
	CA           pulumi.StringOutput
	PullPassword pulumi.StringOutput
}

// New renders the mirror patch and, with talos.manage, applies machine configuration plus the
// patch (and the user's patches) to every node, bootstraps a new cluster if asked, and reads
// its kubeconfig.
func New(ctx *pulumi.Context, name string, c *siteconfig.Config, creds *Credentials, opts ...pulumi.ResourceOption) (*Talos, error) {
	if c.Registry.PlainHTTP != (creds == nil) {
		return nil, fmt.Errorf("talos: registry credentials are required unless registry.plainHTTP is set, and unused with it")
	}
	patch, err := c.MirrorPatch("", "")
	if err != nil {
		return nil, err
	}
	userPatches, err := UserPatches(c.Talos.Patches)
	if err != nil {
		return nil, err
	}
	t := &Talos{BootstrapPatchYAML: patch, Managed: c.Talos.Manage}
	if err := ctx.RegisterComponentResource(Type, name, t, opts...); err != nil {
		return nil, err
	}
	t.Patch = pulumi.String(string(patch)).ToStringOutput()
	if creds != nil {
		t.Patch = pulumi.ToSecret(pulumi.All(creds.CA, creds.PullPassword).ApplyT(func(v []any) (string, error) {
			p, err := c.MirrorPatch(v[0].(string), v[1].(string))
			return string(p), err
		})).(pulumi.StringOutput)
	}
	if !c.Talos.Manage {
		return t, ctx.RegisterResourceOutputs(t, pulumi.Map{"patch": t.Patch})
	}

	parent := pulumi.Parent(t)
	secrets, err := NewSecrets(ctx, name, &SecretsArgs{TalosVersion: pulumi.String(c.Talos.Version)}, parent)
	if err != nil {
		return nil, err
	}
	patches := pulumi.StringArray{t.Patch}
	for _, p := range userPatches {
		patches = append(patches, pulumi.String(p))
	}
	configs := map[siteconfig.Role]pulumi.StringOutput{}
	var firstControlPlane *siteconfig.Node
	for i, n := range c.Nodes {
		if n.Role == siteconfig.RoleControlPlane && firstControlPlane == nil {
			firstControlPlane = &c.Nodes[i]
		}
		machineConfig, ok := configs[n.Role]
		if !ok {
			machineConfig = GetConfiguration(ctx, GetConfigurationArgs{
				ClusterName:       c.Talos.ClusterName,
				ClusterEndpoint:   c.Talos.ClusterEndpoint,
				MachineType:       string(n.Role),
				TalosVersion:      c.Talos.Version,
				KubernetesVersion: c.Talos.KubernetesVersion,
				MachineSecrets:    secrets.MachineSecrets,
			}, pulumi.Parent(t))
			configs[n.Role] = machineConfig
		}
		apply, err := NewConfigurationApply(ctx, name+"-"+n.Name, &ConfigurationApplyArgs{
			Node:                      pulumi.String(n.IP),
			Endpoint:                  pulumi.StringPtr(n.IP),
			ApplyMode:                 pulumi.StringPtr(c.Talos.ApplyMode),
			ClientConfiguration:       secrets.ClientConfiguration,
			MachineConfigurationInput: machineConfig,
			ConfigPatches:             patches,
		}, parent)
		if err != nil {
			return nil, err
		}
		t.Applies = append(t.Applies, apply)
	}
	if firstControlPlane == nil {
		return nil, fmt.Errorf("talos.manage: no node has role controlplane")
	}
	ready := make([]pulumi.Resource, 0, len(t.Applies))
	for _, a := range t.Applies {
		ready = append(ready, a)
	}
	if c.Talos.BootstrapCluster {
		b, err := NewBootstrap(ctx, name, &BootstrapArgs{
			Node:                pulumi.String(firstControlPlane.IP),
			Endpoint:            pulumi.StringPtr(firstControlPlane.IP),
			ClientConfiguration: secrets.ClientConfiguration,
		}, parent, pulumi.DependsOn(ready))
		if err != nil {
			return nil, err
		}
		ready = []pulumi.Resource{b}
	}
	kc, err := NewKubeconfig(ctx, name, &KubeconfigArgs{
		Node:                pulumi.String(firstControlPlane.IP),
		Endpoint:            pulumi.StringPtr(firstControlPlane.IP),
		ClientConfiguration: secrets.ClientConfiguration,
	}, parent, pulumi.DependsOn(ready))
	if err != nil {
		return nil, err
	}
	t.Kubeconfig = kc.KubeconfigRaw
	return t, ctx.RegisterResourceOutputs(t, pulumi.Map{"patch": t.Patch})
}

// ReadyPatch is the mirror patch once the site registry is Ready: it resolves when ready does
// (the ID of the registry's Service, which waits for its Deployment to be Ready) and has the
// nodes' mirrors with the site CA and the pull credentials, without the bootstrap endpoint
// whatever bootstrap.endpoint says (siteconfig's ReadyMirrorPatch). It is the stack's
// talosMirrorPatch output: the full patch never keeps the laptop as a fallback. creds is nil
// for a registry.plainHTTP site, whose patch is not secret.
func ReadyPatch(c *siteconfig.Config, creds *Credentials, ready pulumi.IDOutput) pulumi.StringOutput {
	if creds == nil {
		return ready.ApplyT(func(pulumi.ID) (string, error) {
			p, err := c.ReadyMirrorPatch("", "")
			return string(p), err
		}).(pulumi.StringOutput)
	}
	return pulumi.ToSecret(pulumi.All(ready, creds.CA, creds.PullPassword).ApplyT(func(v []any) (string, error) {
		p, err := c.ReadyMirrorPatch(v[1].(string), v[2].(string))
		return string(p), err
	})).(pulumi.StringOutput)
}

// UserPatches turns the configured patches into the YAML strings ConfigurationApply takes.
func UserPatches(patches []any) ([]string, error) {
	out := make([]string, 0, len(patches))
	for i, p := range patches {
		if s, ok := p.(string); ok {
			out = append(out, s)
			continue
		}
		b, err := yaml.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("talos.patches[%d]: %w", i, err)
		}
		out = append(out, string(b))
	}
	return out, nil
}
