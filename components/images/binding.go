package images

import (
	"reflect"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"airgap-site/provider/contract"
)

// Provider is an explicit airgap provider: contract.Provider, the site registry every Image
// of the site is copied to, and the bundle and trust the images come from.
type Provider struct {
	pulumi.ProviderResourceState
}

// ProviderArgs are the provider's settings.
type ProviderArgs struct {
	Endpoints      pulumi.StringArrayInput
	Insecure       pulumi.BoolPtrInput
	CA             pulumi.StringPtrInput
	Username       pulumi.StringPtrInput
	Password       pulumi.StringPtrInput
	Bundle         pulumi.StringPtrInput
	TrustedKeys    pulumi.StringArrayInput
	AllowUnsigned  pulumi.BoolPtrInput
	Jobs           pulumi.IntPtrInput
	RetryFor       pulumi.IntPtrInput
	RequestTimeout pulumi.IntPtrInput
	// The link to the site.
	LinkBytesPerSecond pulumi.IntPtrInput
	MaxBytesPerSecond  pulumi.IntPtrInput
	UploadSessions     pulumi.StringPtrInput
}

type providerArgs struct {
	Endpoints      []string `pulumi:"endpoints"`
	Insecure       *bool    `pulumi:"insecure"`
	CA             *string  `pulumi:"ca"`
	Username       *string  `pulumi:"username"`
	Password       *string  `pulumi:"password"`
	Bundle         *string  `pulumi:"bundle"`
	TrustedKeys    []string `pulumi:"trustedKeys"`
	AllowUnsigned  *bool    `pulumi:"allowUnsigned"`
	Jobs           *int     `pulumi:"jobs"`
	RetryFor       *int     `pulumi:"retryFor"`
	RequestTimeout *int     `pulumi:"requestTimeout"`
	// The link to the site.
	LinkBytesPerSecond *int    `pulumi:"linkBytesPerSecond"`
	MaxBytesPerSecond  *int    `pulumi:"maxBytesPerSecond"`
	UploadSessions     *string `pulumi:"uploadSessions"`
}

// ElementType implements pulumi.Input for the registration.
func (ProviderArgs) ElementType() reflect.Type { return reflect.TypeOf((*providerArgs)(nil)).Elem() }

// NewProvider declares the provider; its password is kept secret in the state.
func NewProvider(ctx *pulumi.Context, name string, args *ProviderArgs, opts ...pulumi.ResourceOption) (*Provider, error) {
	var p Provider
	opts = append(opts, pulumi.Version(contract.Version), pulumi.AdditionalSecretOutputs(contract.Provider.Secrets()))
	if err := ctx.RegisterResource(contract.ProviderToken, name, args, &p, opts...); err != nil {
		return nil, err
	}
	return &p, nil
}

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
	Inventory  pulumi.Float64MapOutput  `pulumi:"inventory"`
	Endpoint   pulumi.StringOutput      `pulumi:"endpoint"`
	SyncedAt   pulumi.StringOutput      `pulumi:"syncedAt"`
}

// ImageArgs are the inputs of Image: only the image's own; the site's settings are its
// provider's (pulumi.Provider with a Provider).
type ImageArgs struct {
	SourceRef    pulumi.StringPtrInput
	SourceRemote pulumi.StringPtrInput
	Repository   pulumi.StringInput
	Tag          pulumi.StringInput
	Retain       pulumi.BoolPtrInput
}

type imageArgs struct {
	SourceRef    *string `pulumi:"sourceRef"`
	SourceRemote *string `pulumi:"sourceRemote"`
	Repository   string  `pulumi:"repository"`
	Tag          string  `pulumi:"tag"`
	Retain       *bool   `pulumi:"retain"`
}

// ElementType implements pulumi.Input for the registration.
func (ImageArgs) ElementType() reflect.Type { return reflect.TypeOf((*imageArgs)(nil)).Elem() }

// NewImage declares an image copy; opts must name its Provider.
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
	Images         pulumi.StringArrayInput
}

type acceptedBundleArgs struct {
	SourceLayout   string   `pulumi:"sourceLayout"`
	TrustedKeys    []string `pulumi:"trustedKeys"`
	AllowUnsigned  *bool    `pulumi:"allowUnsigned"`
	AllowDowngrade *bool    `pulumi:"allowDowngrade"`
	Site           *string  `pulumi:"site"`
	Images         []string `pulumi:"images"`
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

// Retention is the airgap provider's contract.Retention: the previous versions of the site's
// images kept for a rollback.
type Retention struct {
	pulumi.CustomResourceState

	Previous        pulumi.StringArrayOutput `pulumi:"previous"`
	DeletedVersions pulumi.IntOutput         `pulumi:"deletedVersions"`
}

// RetentionArgs are the inputs of Retention.
type RetentionArgs struct {
	KeepPrevious pulumi.IntPtrInput
	Images       pulumi.StringMapInput
}

type retentionArgs struct {
	KeepPrevious *int              `pulumi:"keepPrevious"`
	Images       map[string]string `pulumi:"images"`
}

// ElementType implements pulumi.Input for the registration.
func (RetentionArgs) ElementType() reflect.Type { return reflect.TypeOf((*retentionArgs)(nil)).Elem() }

// NewRetention declares the retention; opts must name the site's Provider.
func NewRetention(ctx *pulumi.Context, name string, args *RetentionArgs, opts ...pulumi.ResourceOption) (*Retention, error) {
	var r Retention
	opts = append(opts, pulumi.Version(contract.Version))
	if err := ctx.RegisterResource(contract.RetentionToken, name, args, &r, opts...); err != nil {
		return nil, err
	}
	return &r, nil
}

// GarbageCollection is the airgap provider's contract.GarbageCollection.
type GarbageCollection struct {
	pulumi.CustomResourceState

	CollectedAt      pulumi.StringOutput  `pulumi:"collectedAt"`
	BlobsDeleted     pulumi.IntOutput     `pulumi:"blobsDeleted"`
	ManifestsDeleted pulumi.IntOutput     `pulumi:"manifestsDeleted"`
	DurationSeconds  pulumi.Float64Output `pulumi:"durationSeconds"`
}

// GarbageCollectionArgs are the inputs of GarbageCollection.
type GarbageCollectionArgs struct {
	Kubeconfig     pulumi.StringInput
	Context        pulumi.StringPtrInput
	Namespace      pulumi.StringInput
	After          pulumi.IntPtrInput
	TimeoutSeconds pulumi.IntPtrInput
}

type garbageCollectionArgs struct {
	Kubeconfig     string  `pulumi:"kubeconfig"`
	Context        *string `pulumi:"context"`
	Namespace      string  `pulumi:"namespace"`
	After          *int    `pulumi:"after"`
	TimeoutSeconds *int    `pulumi:"timeoutSeconds"`
}

// ElementType implements pulumi.Input for the registration.
func (GarbageCollectionArgs) ElementType() reflect.Type {
	return reflect.TypeOf((*garbageCollectionArgs)(nil)).Elem()
}

// NewGarbageCollection declares the collection; its kubeconfig is kept secret in the state.
func NewGarbageCollection(ctx *pulumi.Context, name string, args *GarbageCollectionArgs, opts ...pulumi.ResourceOption) (*GarbageCollection, error) {
	var r GarbageCollection
	opts = append(opts, pulumi.Version(contract.Version), pulumi.AdditionalSecretOutputs(contract.GarbageCollection.Secrets()))
	if err := ctx.RegisterResource(contract.GarbageCollectionToken, name, args, &r, opts...); err != nil {
		return nil, err
	}
	return &r, nil
}

// RegistryUsage is the airgap provider's contract.RegistryUsage: what the site registry's store
// holds, measured after every up that changed it.
type RegistryUsage struct {
	pulumi.CustomResourceState

	ReferencedBytes pulumi.IntOutput        `pulumi:"referencedBytes"`
	TotalBytes      pulumi.IntOutput        `pulumi:"totalBytes"`
	FreeBytes       pulumi.IntOutput        `pulumi:"freeBytes"`
	MeasuredAt      pulumi.StringOutput     `pulumi:"measuredAt"`
	Unmeasured      pulumi.StringOutput     `pulumi:"unmeasured"`
	Held            pulumi.Float64MapOutput `pulumi:"held"`
}

// RegistryUsageArgs are the inputs of RegistryUsage.
type RegistryUsageArgs struct {
	Images        pulumi.StringMapInput
	Previous      pulumi.StringArrayInput
	After         pulumi.StringPtrInput
	CapacityBytes pulumi.IntPtrInput
	StoreEndpoint pulumi.StringPtrInput
	StoreBucket   pulumi.StringPtrInput
	StoreRegion   pulumi.StringPtrInput
	StorePrefix   pulumi.StringPtrInput
	AccessKey     pulumi.StringPtrInput
	SecretKey     pulumi.StringPtrInput
}

type registryUsageArgs struct {
	Images        map[string]string `pulumi:"images"`
	Previous      []string          `pulumi:"previous"`
	After         *string           `pulumi:"after"`
	CapacityBytes *int              `pulumi:"capacityBytes"`
	StoreEndpoint *string           `pulumi:"storeEndpoint"`
	StoreBucket   *string           `pulumi:"storeBucket"`
	StoreRegion   *string           `pulumi:"storeRegion"`
	StorePrefix   *string           `pulumi:"storePrefix"`
	AccessKey     *string           `pulumi:"accessKey"`
	SecretKey     *string           `pulumi:"secretKey"`
}

// ElementType implements pulumi.Input for the registration.
func (RegistryUsageArgs) ElementType() reflect.Type {
	return reflect.TypeOf((*registryUsageArgs)(nil)).Elem()
}

// NewRegistryUsage declares the measure; its S3 identity is kept secret in the state.
func NewRegistryUsage(ctx *pulumi.Context, name string, args *RegistryUsageArgs, opts ...pulumi.ResourceOption) (*RegistryUsage, error) {
	var r RegistryUsage
	opts = append(opts, pulumi.Version(contract.Version), pulumi.AdditionalSecretOutputs(contract.RegistryUsage.Secrets()))
	if err := ctx.RegisterResource(contract.RegistryUsageToken, name, args, &r, opts...); err != nil {
		return nil, err
	}
	return &r, nil
}
