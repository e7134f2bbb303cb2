package images

import (
	"reflect"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"airgap-site/provider/contract"
)

// Image is the airgap provider's contract.Image (provider/ in this repository). The bindings
// are written by hand; contract_test.go holds their pulumi tags to package contract.
type Image struct {
	pulumi.CustomResourceState

	Ref        pulumi.StringOutput      `pulumi:"ref"`
	Digest     pulumi.StringOutput      `pulumi:"digest"`
	MediaType  pulumi.StringOutput      `pulumi:"mediaType"`
	Platforms  pulumi.StringArrayOutput `pulumi:"platforms"`
	TotalBytes pulumi.Float64Output     `pulumi:"totalBytes"`
	SentBytes  pulumi.Float64Output     `pulumi:"sentBytes"`
	Endpoint   pulumi.StringOutput      `pulumi:"endpoint"`
	SyncedAt   pulumi.StringOutput      `pulumi:"syncedAt"`
}

// ImageArgs are the inputs of Image.
type ImageArgs struct {
	SourceLayout   pulumi.StringPtrInput
	SourceRef      pulumi.StringPtrInput
	SourceRemote   pulumi.StringPtrInput
	Endpoints      pulumi.StringArrayInput
	Insecure       pulumi.BoolPtrInput
	CA             pulumi.StringPtrInput
	Username       pulumi.StringPtrInput
	Password       pulumi.StringPtrInput
	Repository     pulumi.StringInput
	Tag            pulumi.StringInput
	MountFrom      pulumi.StringArrayInput
	Retain         pulumi.BoolPtrInput
	Jobs           pulumi.IntPtrInput
	RetryFor       pulumi.IntPtrInput
	RequestTimeout pulumi.IntPtrInput
	TrustedKeys    pulumi.StringArrayInput
	AllowUnsigned  pulumi.BoolPtrInput
}

type imageArgs struct {
	SourceLayout   *string  `pulumi:"sourceLayout"`
	SourceRef      *string  `pulumi:"sourceRef"`
	SourceRemote   *string  `pulumi:"sourceRemote"`
	Endpoints      []string `pulumi:"endpoints"`
	Insecure       *bool    `pulumi:"insecure"`
	CA             *string  `pulumi:"ca"`
	Username       *string  `pulumi:"username"`
	Password       *string  `pulumi:"password"`
	Repository     string   `pulumi:"repository"`
	Tag            string   `pulumi:"tag"`
	MountFrom      []string `pulumi:"mountFrom"`
	Retain         *bool    `pulumi:"retain"`
	Jobs           *int     `pulumi:"jobs"`
	RetryFor       *int     `pulumi:"retryFor"`
	RequestTimeout *int     `pulumi:"requestTimeout"`
	TrustedKeys    []string `pulumi:"trustedKeys"`
	AllowUnsigned  *bool    `pulumi:"allowUnsigned"`
}

// ElementType implements pulumi.Input for the registration.
func (ImageArgs) ElementType() reflect.Type { return reflect.TypeOf((*imageArgs)(nil)).Elem() }

// NewImage declares an image copy.
func NewImage(ctx *pulumi.Context, name string, args *ImageArgs, opts ...pulumi.ResourceOption) (*Image, error) {
	var r Image
	opts = append(opts, pulumi.Version(contract.Version), pulumi.AdditionalSecretOutputs(contract.Image.Secrets()))
	if err := ctx.RegisterResource(contract.ImageToken, name, args, &r, opts...); err != nil {
		return nil, err
	}
	return &r, nil
}

// AcceptedBundle is the airgap provider's contract.AcceptedBundle: the highest bundle
// sequence the stack accepted, kept in its state; every Image of the bundle depends on it.
type AcceptedBundle struct {
	pulumi.CustomResourceState

	Sequence        pulumi.IntOutput    `pulumi:"sequence"`
	HighestSequence pulumi.IntOutput    `pulumi:"highestSequence"`
	CreatedAt       pulumi.StringOutput `pulumi:"createdAt"`
	Manifest        pulumi.StringOutput `pulumi:"manifest"`
	SignedBy        pulumi.StringOutput `pulumi:"signedBy"`
}

// AcceptedBundleArgs are the inputs of AcceptedBundle.
type AcceptedBundleArgs struct {
	SourceLayout   pulumi.StringInput
	TrustedKeys    pulumi.StringArrayInput
	AllowUnsigned  pulumi.BoolPtrInput
	AllowDowngrade pulumi.BoolPtrInput
	Site           pulumi.StringPtrInput
}

type acceptedBundleArgs struct {
	SourceLayout   string   `pulumi:"sourceLayout"`
	TrustedKeys    []string `pulumi:"trustedKeys"`
	AllowUnsigned  *bool    `pulumi:"allowUnsigned"`
	AllowDowngrade *bool    `pulumi:"allowDowngrade"`
	Site           *string  `pulumi:"site"`
}

// ElementType implements pulumi.Input for the registration.
func (AcceptedBundleArgs) ElementType() reflect.Type {
	return reflect.TypeOf((*acceptedBundleArgs)(nil)).Elem()
}

// NewAcceptedBundle declares the bundle the stack accepts.
func NewAcceptedBundle(ctx *pulumi.Context, name string, args *AcceptedBundleArgs, opts ...pulumi.ResourceOption) (*AcceptedBundle, error) {
	var r AcceptedBundle
	opts = append(opts, pulumi.Version(contract.Version))
	if err := ctx.RegisterResource(contract.AcceptedBundleToken, name, args, &r, opts...); err != nil {
		return nil, err
	}
	return &r, nil
}
