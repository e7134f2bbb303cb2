package talos

import (
	"reflect"

	"airgap-site/sitecontract"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Typed bindings for the pulumi-talos resources this project uses, declared by their type
// tokens: the pulumi-talos Go SDK is not served by the module proxy. Property names and types
// follow pulumi-talos v0.8.1's schema; contract_test.go checks them against it.

// PluginVersion is the pulumi-talos release these bindings follow (its schema is the contract
// test's reference). Resources ask the engine for exactly this plugin, so a laptop with another
// version installed fails clearly instead of sending properties that version may not know.
const PluginVersion = "0.8.1"

// ClientConfiguration is talosctl's client identity ({caCertificate, clientCertificate,
// clientKey}); every field is a string, so a string map carries it.
type ClientConfiguration = pulumi.StringMapOutput

// Secrets is talos:machine/secrets:Secrets: the cluster's PKI and tokens. An existing site
// imports its secrets instead of generating new ones (see README).
type Secrets struct {
	pulumi.CustomResourceState

	MachineSecrets      pulumi.MapOutput       `pulumi:"machineSecrets"`
	ClientConfiguration pulumi.StringMapOutput `pulumi:"clientConfiguration"`
	TalosVersion        pulumi.StringOutput    `pulumi:"talosVersion"`
}

// SecretsArgs are the inputs of Secrets.
type SecretsArgs struct {
	TalosVersion pulumi.StringPtrInput
}

type secretsArgs struct {
	TalosVersion *string `pulumi:"talosVersion"`
}

// ElementType implements pulumi.Input for the registration.
func (SecretsArgs) ElementType() reflect.Type { return reflect.TypeOf((*secretsArgs)(nil)).Elem() }

// NewSecrets declares the machine secrets.
func NewSecrets(ctx *pulumi.Context, name string, args *SecretsArgs, opts ...pulumi.ResourceOption) (*Secrets, error) {
	var r Secrets
	opts = append(opts, pulumi.AdditionalSecretOutputs([]string{"machineSecrets", "clientConfiguration"}))
	if err := ctx.RegisterResource(sitecontract.TalosSecrets, name, args, &r, append(opts, pulumi.Version(PluginVersion))...); err != nil {
		return nil, err
	}
	return &r, nil
}

// ConfigurationApply is talos:machine/configurationApply:ConfigurationApply: it applies a
// machine configuration plus patches to one node.
type ConfigurationApply struct {
	pulumi.CustomResourceState

	Node                 pulumi.StringOutput      `pulumi:"node"`
	ApplyMode            pulumi.StringOutput      `pulumi:"applyMode"`
	ResolvedApplyMode    pulumi.StringOutput      `pulumi:"resolvedApplyMode"`
	ConfigPatches        pulumi.StringArrayOutput `pulumi:"configPatches"`
	MachineConfiguration pulumi.StringOutput      `pulumi:"machineConfiguration"`
}

// ConfigurationApplyArgs are the inputs of ConfigurationApply.
type ConfigurationApplyArgs struct {
	Node                      pulumi.StringInput
	Endpoint                  pulumi.StringPtrInput
	ApplyMode                 pulumi.StringPtrInput
	ClientConfiguration       pulumi.StringMapInput
	MachineConfigurationInput pulumi.StringInput
	ConfigPatches             pulumi.StringArrayInput
}

type configurationApplyArgs struct {
	Node                      string            `pulumi:"node"`
	Endpoint                  *string           `pulumi:"endpoint"`
	ApplyMode                 *string           `pulumi:"applyMode"`
	ClientConfiguration       map[string]string `pulumi:"clientConfiguration"`
	MachineConfigurationInput string            `pulumi:"machineConfigurationInput"`
	ConfigPatches             []string          `pulumi:"configPatches"`
}

// ElementType implements pulumi.Input for the registration.
func (ConfigurationApplyArgs) ElementType() reflect.Type {
	return reflect.TypeOf((*configurationApplyArgs)(nil)).Elem()
}

// NewConfigurationApply declares the configuration of one node.
func NewConfigurationApply(ctx *pulumi.Context, name string, args *ConfigurationApplyArgs, opts ...pulumi.ResourceOption) (*ConfigurationApply, error) {
	var r ConfigurationApply
	opts = append(opts, pulumi.AdditionalSecretOutputs([]string{"machineConfiguration", "machineConfigurationInput"}))
	if err := ctx.RegisterResource(sitecontract.TalosConfigurationApply, name, args, &r, append(opts, pulumi.Version(PluginVersion))...); err != nil {
		return nil, err
	}
	return &r, nil
}

// Bootstrap is talos:machine/bootstrap:Bootstrap: it bootstraps etcd on one control-plane node.
type Bootstrap struct {
	pulumi.CustomResourceState

	Node pulumi.StringOutput `pulumi:"node"`
}

// BootstrapArgs are the inputs of Bootstrap.
type BootstrapArgs struct {
	Node                pulumi.StringInput
	Endpoint            pulumi.StringPtrInput
	ClientConfiguration pulumi.StringMapInput
}

type bootstrapArgs struct {
	Node                string            `pulumi:"node"`
	Endpoint            *string           `pulumi:"endpoint"`
	ClientConfiguration map[string]string `pulumi:"clientConfiguration"`
}

// ElementType implements pulumi.Input for the registration.
func (BootstrapArgs) ElementType() reflect.Type { return reflect.TypeOf((*bootstrapArgs)(nil)).Elem() }

// NewBootstrap declares the etcd bootstrap.
func NewBootstrap(ctx *pulumi.Context, name string, args *BootstrapArgs, opts ...pulumi.ResourceOption) (*Bootstrap, error) {
	var r Bootstrap
	if err := ctx.RegisterResource(sitecontract.TalosBootstrap, name, args, &r, append(opts, pulumi.Version(PluginVersion))...); err != nil {
		return nil, err
	}
	return &r, nil
}

// Kubeconfig is talos:cluster/kubeconfig:Kubeconfig: an admin kubeconfig for the cluster.
type Kubeconfig struct {
	pulumi.CustomResourceState

	KubeconfigRaw pulumi.StringOutput `pulumi:"kubeconfigRaw"`
}

// KubeconfigArgs are the inputs of Kubeconfig.
type KubeconfigArgs struct {
	Node                pulumi.StringInput
	Endpoint            pulumi.StringPtrInput
	ClientConfiguration pulumi.StringMapInput
}

type kubeconfigArgs struct {
	Node                string            `pulumi:"node"`
	Endpoint            *string           `pulumi:"endpoint"`
	ClientConfiguration map[string]string `pulumi:"clientConfiguration"`
}

// ElementType implements pulumi.Input for the registration.
func (KubeconfigArgs) ElementType() reflect.Type {
	return reflect.TypeOf((*kubeconfigArgs)(nil)).Elem()
}

// NewKubeconfig declares the kubeconfig.
func NewKubeconfig(ctx *pulumi.Context, name string, args *KubeconfigArgs, opts ...pulumi.ResourceOption) (*Kubeconfig, error) {
	var r Kubeconfig
	opts = append(opts, pulumi.AdditionalSecretOutputs([]string{"kubeconfigRaw"}))
	if err := ctx.RegisterResource(sitecontract.TalosKubeconfig, name, args, &r, append(opts, pulumi.Version(PluginVersion))...); err != nil {
		return nil, err
	}
	return &r, nil
}

// GetConfigurationArgs are the inputs of the getConfiguration invoke.
type GetConfigurationArgs struct {
	ClusterName       string
	ClusterEndpoint   string
	MachineType       string
	TalosVersion      string
	KubernetesVersion string
	MachineSecrets    pulumi.MapInput
}

// GetConfiguration generates the machine configuration of a node type (controlplane or
// worker) from the cluster's secrets. It returns the configuration as a secret string.
func GetConfiguration(ctx *pulumi.Context, args GetConfigurationArgs, opts ...pulumi.InvokeOption) pulumi.StringOutput {
	in := pulumi.Map{
		"clusterName":     pulumi.String(args.ClusterName),
		"clusterEndpoint": pulumi.String(args.ClusterEndpoint),
		"machineType":     pulumi.String(args.MachineType),
		"talosVersion":    pulumi.String(args.TalosVersion),
		"machineSecrets":  args.MachineSecrets,
		"docs":            pulumi.Bool(false),
		"examples":        pulumi.Bool(false),
	}
	if args.KubernetesVersion != "" {
		in["kubernetesVersion"] = pulumi.String(args.KubernetesVersion)
	}
	out := ctx.InvokeOutput(sitecontract.TalosGetConfiguration, in, pulumi.MapOutput{}, pulumi.InvokeOutputOptions{InvokeOptions: append(opts, pulumi.Version(PluginVersion))}).(pulumi.MapOutput)
	cfg := out.ApplyT(func(m map[string]any) string {
		s, _ := m["machineConfiguration"].(string)
		return s
	}).(pulumi.StringOutput)
	return pulumi.ToSecret(cfg).(pulumi.StringOutput)
}
