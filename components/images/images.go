package images

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"airgap-site/capacity"
	"airgap-site/mirror"
	"airgap-site/provider/contract"
	"airgap-site/provider/retention"
	"airgap-site/siteconfig"
)

// Type is the component's Pulumi type token.
const Type = "airgap-site:images:Images"

// Args configure the images of a site.
type Args struct {
	Config *siteconfig.Config
	// RegistryReady are the resources the copies wait for (the registry Service, which itself
	// waits for the Deployment to be Ready).
	RegistryReady []pulumi.Resource
	// ProjectDir resolves a relative bundle path.
	ProjectDir string
	// Push is the push identity over TLS; nil for a registry.plainHTTP site.
	Push *PushIdentity
	// TrustedKeys are images.trustedKeys as PEM text (files read by the caller).
	TrustedKeys []string
	// Accepted is the bundle the stack accepts (Accept); every copy depends on it. Nil
	// without a bundle.
	Accepted *AcceptedBundle
	// Kubeconfig (secret) and KubeContext reach the site's cluster, where a garbage
	// collection runs after an up that deleted previous versions.
	Kubeconfig  pulumi.StringInput
	KubeContext string
	// StoreReader is a read-only S3 identity of the registry's bucket (the pull endpoints'):
	// every up that changed the images lists the bucket with it (at
	// objectStore.usageEndpoint) to measure what the store holds. Nil: not listed.
	StoreReader *StoreIdentity
}

// StoreIdentity is an S3 key pair (secret).
type StoreIdentity struct {
	AccessKey, SecretKey pulumi.StringOutput
}

// PushIdentity is how the site registry's write endpoint is reached: the site CA (PEM) to
// trust and the push identity's password (secret).
type PushIdentity struct {
	CA       pulumi.StringOutput
	Password pulumi.StringOutput
}

// credentials are the CA, user and password inputs of a push, or none (plain http).
func (p *PushIdentity) credentials() (ca, user, password pulumi.StringPtrInput) {
	if p == nil {
		return nil, nil, nil
	}
	return p.CA.ToStringPtrOutput(), pulumi.StringPtr(siteconfig.PushUser),
		pulumi.ToSecret(p.Password.ToStringPtrOutput()).(pulumi.StringPtrOutput)
}

// Images is the site's image set.
type Images struct {
	pulumi.ResourceState

	// Digests maps each original reference to its digest in the site registry.
	Digests pulumi.StringMapOutput `pulumi:"digests"`
	// SentBytes is what the last up sent over the wire for all images.
	SentBytes pulumi.Float64Output `pulumi:"sentBytes"`
	// Accepted is the bundle the stack accepted, which every copy depends on; nil without
	// bundled images.
	Accepted *AcceptedBundle
	// Previous are the versions kept for a rollback, newest first (repository:tag@digest);
	// empty when nothing is kept (no copied image, or images.retain).
	Previous pulumi.StringArrayOutput `pulumi:"previous"`
	// Copies and Builds are the resources, by original reference.
	Copies map[string]*Image
	Builds map[string]*docker.Image
	// Retention and Collection keep the registry bounded; nil when nothing is kept.
	Retention  *Retention
	Collection *GarbageCollection
	// Usage measures the registry's store after them (after the copies with images.retain);
	// nil when no image is copied.
	Usage *RegistryUsage
	// capacityBytes is the store's usable size (0: unknown), for UsageOutput.
	capacityBytes int64
}

// UsageOutput is the stack output registryUsage (package capacity's Usage) of im.Usage.
func (im *Images) UsageOutput() pulumi.MapOutput {
	u := im.Usage
	capBytes := float64(im.capacityBytes)
	if capBytes == 0 {
		capBytes = capacity.Unknown
	}
	return pulumi.All(u.ReferencedBytes, u.TotalBytes, u.FreeBytes, u.MeasuredAt, u.Unmeasured).ApplyT(func(v []any) map[string]any {
		return map[string]any{
			"referencedBytes": v[0], "totalBytes": v[1], "capacityBytes": capBytes,
			"freeBytes": v[2], "measuredAt": v[3], "unmeasured": v[4],
		}
	}).(pulumi.MapOutput)
}

// New declares the images.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Images, error) {
	c := args.Config
	im := &Images{Copies: map[string]*Image{}, Builds: map[string]*docker.Image{}}
	if err := ctx.RegisterComponentResource(Type, name, im, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(im)
	wait := pulumi.DependsOn(args.RegistryReady)
	registry := c.ImageRegistry()
	endpoints := c.PushEndpoints()
	// images.retrySeconds: long enough by default to ride out a registry pod restart.
	retry := cmp.Or(c.Images.RetrySeconds, contract.DefaultRetrySeconds)
	requestTimeout := cmp.Or(c.Images.TimeoutSeconds, contract.DefaultRequestTimeoutSeconds)
	insecure := c.Registry.PlainHTTP
	if insecure != (args.Push == nil) {
		return nil, fmt.Errorf("images: the push identity is required unless registry.plainHTTP is set, and unused with it")
	}
	ca, user, password := args.Push.credentials()
	bundle := c.BundleDir(args.ProjectDir)

	targets := make([]mirror.Target, len(c.Images.List))
	for i, e := range c.Images.List {
		t, err := mirror.TargetOf(e.Image)
		if err != nil {
			return nil, fmt.Errorf("images.list[%d]: %w", i, err)
		}
		targets[i] = t
	}

	var accepted pulumi.ResourceOption
	if im.Accepted = args.Accepted; im.Accepted != nil {
		accepted = pulumi.DependsOn([]pulumi.Resource{im.Accepted})
	}

	// One provider for every image of the site: the site's settings, set once (see
	// contract.Provider). Its name is the stack's, so a state keeps it across ups.
	var siteProvider *Provider
	newProvider := func() (*Provider, error) {
		if siteProvider != nil {
			return siteProvider, nil
		}
		p, err := NewProvider(ctx, name+"-registry", &ProviderArgs{
			Endpoints:      pulumi.ToStringArray(endpoints),
			Insecure:       pulumi.BoolPtr(insecure),
			CA:             ca,
			Username:       user,
			Password:       password,
			Bundle:         pulumi.StringPtr(bundle),
			TrustedKeys:    pulumi.ToStringArray(args.TrustedKeys),
			AllowUnsigned:  pulumi.BoolPtr(c.Images.AllowUnsigned),
			Jobs:           pulumi.IntPtr(c.Images.Jobs),
			RetryFor:       pulumi.IntPtr(retry),
			RequestTimeout: pulumi.IntPtr(requestTimeout),
			// Upload rates and sessions: the link to the site.
			MaxBytesPerSecond: pulumi.IntPtr(int(c.Images.MaxBytesPerSecond)),
			UploadSessions:    pulumi.StringPtr(UploadSessions(args.ProjectDir, ctx.Stack())),
			// For a preview to say how long the transfer takes; left out when not known, so
			// that a stack without it keeps its provider unchanged.
			LinkBytesPerSecond: linkRate(c.Images),
		}, parent)
		siteProvider = p
		return p, err
	}

	var dockerProvider *docker.Provider
	digests := pulumi.StringMap{}
	var sent []pulumi.Float64Output
	for i, e := range c.Images.List {
		t := targets[i]
		resName := name + "-" + t.Reference
		if e.Build != nil {
			if dockerProvider == nil {
				p, err := docker.NewProvider(ctx, name+"-docker", &docker.ProviderArgs{Host: pulumi.StringPtr(c.Images.Docker.Host)}, parent)
				if err != nil {
					return nil, err
				}
				dockerProvider = p
			}
			built, err := buildImage(ctx, resName, registry, t, e.Build, user, password, parent, wait, pulumi.Provider(dockerProvider))
			if err != nil {
				return nil, err
			}
			im.Builds[t.Reference] = built
			digests[t.Reference] = built.RepoDigest
			continue
		}
		p, err := newProvider()
		if err != nil {
			return nil, err
		}
		img, err := NewImage(ctx, resName, &ImageArgs{
			SourceRef:  pulumi.StringPtr(t.Reference),
			Repository: pulumi.String(t.Repository),
			Tag:        pulumi.String(t.Tag),
			Retain:     pulumi.BoolPtr(c.Images.Retain),
		}, parent, wait, accepted, pulumi.Provider(p))
		if err != nil {
			return nil, err
		}
		im.Copies[t.Reference] = img
		digests[t.Reference] = img.Digest
		sent = append(sent, img.SentBytes)
	}
	im.Digests = digests.ToStringMapOutput()
	im.SentBytes = sumOutputs(sent)
	im.Previous = pulumi.ToStringArray(nil).ToStringArrayOutput()
	if siteProvider != nil {
		if err := im.bound(ctx, name, c, args, siteProvider); err != nil {
			return nil, err
		}
	}
	return im, ctx.RegisterResourceOutputs(im, pulumi.Map{"digests": im.Digests, "sentBytes": im.SentBytes, "previous": im.Previous})
}

// bound declares what keeps the registry bounded: the retention of previous versions, after
// every copy, and the garbage collection that follows when it deleted some (neither with
// images.retain), then the measure of what the store holds.
func (im *Images) bound(ctx *pulumi.Context, name string, c *siteconfig.Config, args Args, p *Provider) error {
	current := pulumi.StringMap{}
	var copies []pulumi.Resource
	for _, ref := range slices.Sorted(maps.Keys(im.Copies)) {
		t, err := mirror.TargetOf(ref)
		if err != nil {
			return err
		}
		current[retention.Label(t.Repository, t.Tag)] = im.Copies[ref].Digest
		copies = append(copies, im.Copies[ref])
	}
	if c.Images.Retain {
		return im.measure(ctx, name, c, args, p, current, nil, copies)
	}
	kept := c.Images.Kept()
	r, err := NewRetention(ctx, name+"-retention", &RetentionArgs{
		KeepPrevious: pulumi.IntPtr(kept),
		Images:       current,
	}, pulumi.Parent(im), pulumi.Provider(p), pulumi.DependsOn(copies))
	if err != nil {
		return err
	}
	im.Retention, im.Previous = r, r.Previous
	after := []pulumi.Resource{r}
	var collectedAt pulumi.StringPtrInput
	if args.Kubeconfig != nil {
		im.Collection, err = NewGarbageCollection(ctx, name+"-gc", &GarbageCollectionArgs{
			Kubeconfig: pulumi.ToSecret(args.Kubeconfig.ToStringOutput()).(pulumi.StringOutput),
			Context:    optional(args.KubeContext),
			Namespace:  pulumi.String(c.Registry.Namespace),
			After:      r.DeletedVersions.ToIntPtrOutput(),
		}, pulumi.Parent(im), pulumi.Provider(p))
		if err != nil {
			return err
		}
		after, collectedAt = append(after, im.Collection), im.Collection.CollectedAt.ToStringPtrOutput()
	}
	return im.measure(ctx, name, c, args, p, current, collectedAt, after)
}

// measure declares the RegistryUsage that follows the retention and the collection.
func (im *Images) measure(ctx *pulumi.Context, name string, c *siteconfig.Config, args Args, p *Provider,
	current pulumi.StringMap, collectedAt pulumi.StringPtrInput, after []pulumi.Resource) error {
	o := c.ObjectStore
	capBytes, _ := o.CapacityBytes()
	im.capacityBytes = capBytes
	usage := &RegistryUsageArgs{
		Images:        current,
		Previous:      im.Previous,
		After:         collectedAt,
		CapacityBytes: pulumi.IntPtr(int(capBytes)),
	}
	if endpoint := o.UsageURL(); endpoint != "" && args.StoreReader != nil {
		usage.StoreEndpoint = pulumi.StringPtr(endpoint)
		usage.StoreBucket = pulumi.StringPtr(o.Bucket)
		usage.StoreRegion = pulumi.StringPtr(o.Region)
		usage.StorePrefix = pulumi.StringPtr(o.RootDirectory)
		usage.AccessKey = args.StoreReader.AccessKey.ToStringPtrOutput()
		usage.SecretKey = args.StoreReader.SecretKey.ToStringPtrOutput()
	}
	var err error
	im.Usage, err = NewRegistryUsage(ctx, name+"-usage", usage, pulumi.Parent(im), pulumi.Provider(p), pulumi.DependsOn(after))
	return err
}

// UploadSessions is where the uploads in flight of a stack are kept, beside its state: under a
// file backend's directory (PULUMI_BACKEND_URL=file://...), else under the project, so that
// the next up on this machine resumes what an interrupted one left (provider/blobupload).
func UploadSessions(projectDir, stack string) string {
	if dir, ok := strings.CutPrefix(os.Getenv("PULUMI_BACKEND_URL"), "file://"); ok && dir != "" {
		return filepath.Join(dir, ".airgap", "uploads", stack)
	}
	return filepath.Join(projectDir, ".airgap", "uploads", stack)
}

// Accept declares the bundle the stack accepts, before anything taken from it is used: its
// Diff refuses a bundle older than the newest one accepted (provider contract.AcceptedBundle),
// so the image copies and the registry and MinIO pods pinned from the bundle wait for it. Nil
// when the site takes nothing from a bundle.
func Accept(ctx *pulumi.Context, name string, c *siteconfig.Config, projectDir string, trustedKeys []string, opts ...pulumi.ResourceOption) (*AcceptedBundle, error) {
	bundle := c.BundleDir(projectDir)
	if bundle == "" || !slices.ContainsFunc(c.Images.List, func(e siteconfig.ImageEntry) bool { return e.Build == nil }) {
		return nil, nil
	}
	refs, err := c.Images.Bundled()
	if err != nil {
		return nil, err
	}
	return NewAcceptedBundle(ctx, name+"-bundle", &AcceptedBundleArgs{
		SourceLayout:   pulumi.String(bundle),
		TrustedKeys:    pulumi.ToStringArray(trustedKeys),
		AllowUnsigned:  pulumi.BoolPtr(c.Images.AllowUnsigned),
		AllowDowngrade: pulumi.BoolPtr(c.Images.AllowDowngrade),
		Site:           pulumi.StringPtr(c.Site),
		Images:         pulumi.ToStringArray(refs),
	}, opts...)
}

// buildImage builds an image at the site with pulumi-docker and pushes it to the site
// registry under the mirror scheme, so pods pull it by its own name.
func buildImage(ctx *pulumi.Context, name, registry string, t mirror.Target, b *siteconfig.Build,
	user, password pulumi.StringPtrInput, opts ...pulumi.ResourceOption) (*docker.Image, error) {
	args := &docker.ImageArgs{
		ImageName: pulumi.String(registry + "/" + t.Repository + ":" + t.Tag),
		Build: &docker.DockerBuildArgs{
			Context:    pulumi.StringPtr(b.Context),
			Dockerfile: optional(b.Dockerfile),
			Args:       pulumi.ToStringMap(b.Args),
			Platform:   optional(b.Platform),
		},
		Registry: &docker.RegistryArgs{
			Server:   pulumi.StringPtr(registry),
			Username: user,
			Password: password,
		},
	}
	return docker.NewImage(ctx, name, args, opts...)
}

func optional(s string) pulumi.StringPtrInput {
	if s == "" {
		return nil
	}
	return pulumi.StringPtr(s)
}

func sumOutputs(outs []pulumi.Float64Output) pulumi.Float64Output {
	all := make([]any, len(outs))
	for i, o := range outs {
		all[i] = o
	}
	return pulumi.All(all...).ApplyT(func(vs []any) float64 {
		var total float64
		for _, v := range vs {
			if f, ok := v.(float64); ok {
				total += f
			}
		}
		return total
	}).(pulumi.Float64Output)
}

// linkRate is images.linkBytesPerSecond as the provider takes it; nil when not set.
func linkRate(im siteconfig.Images) pulumi.IntPtrInput {
	if r := im.LinkRate(); r > 0 {
		return pulumi.IntPtr(int(r))
	}
	return nil
}
