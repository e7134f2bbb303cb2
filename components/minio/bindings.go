package minio

import (
	"reflect"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Typed bindings for the pulumi-minio resources this project uses, declared by their type
// tokens. Property names and types follow pulumi-minio v0.17.1's schema; contract_test.go
// checks them against it.

// PluginVersion is the pulumi-minio release these bindings follow. Resources ask the engine
// for exactly this plugin.
const PluginVersion = "0.17.1"

// Type tokens of pulumi-minio.
const (
	TokenProvider                = "pulumi:providers:minio"
	TokenIamUser                 = "minio:index/iamUser:IamUser"
	TokenIamPolicy               = "minio:index/iamPolicy:IamPolicy"
	TokenIamUserPolicyAttachment = "minio:index/iamUserPolicyAttachment:IamUserPolicyAttachment"
)

// Provider is an explicit pulumi-minio provider: the MinIO server and the admin identity its
// resources are created with.
type Provider struct {
	pulumi.ProviderResourceState
}

// ProviderArgs are the provider's configuration.
type ProviderArgs struct {
	// MinioServer is host:port, no scheme.
	MinioServer   pulumi.StringInput
	MinioUser     pulumi.StringInput
	MinioPassword pulumi.StringInput
	MinioSsl      pulumi.BoolPtrInput
	MinioRegion   pulumi.StringPtrInput
}

type providerArgs struct {
	MinioServer   string  `pulumi:"minioServer"`
	MinioUser     string  `pulumi:"minioUser"`
	MinioPassword string  `pulumi:"minioPassword"`
	MinioSsl      *bool   `pulumi:"minioSsl"`
	MinioRegion   *string `pulumi:"minioRegion"`
}

// ElementType implements pulumi.Input for the registration.
func (ProviderArgs) ElementType() reflect.Type { return reflect.TypeOf((*providerArgs)(nil)).Elem() }

// NewProvider declares the provider. The user and password are always sent as secrets.
func NewProvider(ctx *pulumi.Context, name string, args *ProviderArgs, opts ...pulumi.ResourceOption) (*Provider, error) {
	a := *args
	a.MinioUser = pulumi.ToSecret(a.MinioUser).(pulumi.StringOutput)
	a.MinioPassword = pulumi.ToSecret(a.MinioPassword).(pulumi.StringOutput)
	var p Provider
	opts = append(opts, pulumi.AdditionalSecretOutputs([]string{"minioUser", "minioPassword"}))
	if err := ctx.RegisterResource(TokenProvider, name, &a, &p, append(opts, pulumi.Version(PluginVersion))...); err != nil {
		return nil, err
	}
	return &p, nil
}

// IamUser is minio:index/iamUser:IamUser: a MinIO user whose name is its access key and whose
// secret is its secret key.
type IamUser struct {
	pulumi.CustomResourceState

	Name   pulumi.StringOutput `pulumi:"name"`
	Secret pulumi.StringOutput `pulumi:"secret"`
	Status pulumi.StringOutput `pulumi:"status"`
}

// IamUserArgs are the inputs of IamUser.
type IamUserArgs struct {
	Name   pulumi.StringInput
	Secret pulumi.StringInput
}

type iamUserArgs struct {
	Name   string `pulumi:"name"`
	Secret string `pulumi:"secret"`
}

// ElementType implements pulumi.Input for the registration.
func (IamUserArgs) ElementType() reflect.Type { return reflect.TypeOf((*iamUserArgs)(nil)).Elem() }

// NewIamUser declares a user. Its access key and secret key are always sent as secrets.
func NewIamUser(ctx *pulumi.Context, name string, args *IamUserArgs, opts ...pulumi.ResourceOption) (*IamUser, error) {
	a := *args
	a.Name = pulumi.ToSecret(a.Name).(pulumi.StringOutput)
	a.Secret = pulumi.ToSecret(a.Secret).(pulumi.StringOutput)
	var r IamUser
	opts = append(opts, pulumi.AdditionalSecretOutputs([]string{"name", "secret"}))
	if err := ctx.RegisterResource(TokenIamUser, name, &a, &r, append(opts, pulumi.Version(PluginVersion))...); err != nil {
		return nil, err
	}
	return &r, nil
}

// IamPolicy is minio:index/iamPolicy:IamPolicy: a named canned policy.
type IamPolicy struct {
	pulumi.CustomResourceState

	Name   pulumi.StringOutput `pulumi:"name"`
	Policy pulumi.StringOutput `pulumi:"policy"`
}

// IamPolicyArgs are the inputs of IamPolicy.
type IamPolicyArgs struct {
	Name   pulumi.StringInput
	Policy pulumi.StringInput
}

type iamPolicyArgs struct {
	Name   string `pulumi:"name"`
	Policy string `pulumi:"policy"`
}

// ElementType implements pulumi.Input for the registration.
func (IamPolicyArgs) ElementType() reflect.Type { return reflect.TypeOf((*iamPolicyArgs)(nil)).Elem() }

// NewIamPolicy declares a policy.
func NewIamPolicy(ctx *pulumi.Context, name string, args *IamPolicyArgs, opts ...pulumi.ResourceOption) (*IamPolicy, error) {
	var r IamPolicy
	if err := ctx.RegisterResource(TokenIamPolicy, name, args, &r, append(opts, pulumi.Version(PluginVersion))...); err != nil {
		return nil, err
	}
	return &r, nil
}

// IamUserPolicyAttachment is minio:index/iamUserPolicyAttachment:IamUserPolicyAttachment: a
// policy attached to a user.
type IamUserPolicyAttachment struct {
	pulumi.CustomResourceState

	UserName   pulumi.StringOutput `pulumi:"userName"`
	PolicyName pulumi.StringOutput `pulumi:"policyName"`
}

// IamUserPolicyAttachmentArgs are the inputs of IamUserPolicyAttachment.
type IamUserPolicyAttachmentArgs struct {
	UserName   pulumi.StringInput
	PolicyName pulumi.StringInput
}

type iamUserPolicyAttachmentArgs struct {
	UserName   string `pulumi:"userName"`
	PolicyName string `pulumi:"policyName"`
}

// ElementType implements pulumi.Input for the registration.
func (IamUserPolicyAttachmentArgs) ElementType() reflect.Type {
	return reflect.TypeOf((*iamUserPolicyAttachmentArgs)(nil)).Elem()
}

// NewIamUserPolicyAttachment attaches a policy to a user.
func NewIamUserPolicyAttachment(ctx *pulumi.Context, name string, args *IamUserPolicyAttachmentArgs, opts ...pulumi.ResourceOption) (*IamUserPolicyAttachment, error) {
	var r IamUserPolicyAttachment
	opts = append(opts, pulumi.AdditionalSecretOutputs([]string{"userName"}))
	if err := ctx.RegisterResource(TokenIamUserPolicyAttachment, name, args, &r, append(opts, pulumi.Version(PluginVersion))...); err != nil {
		return nil, err
	}
	return &r, nil
}
