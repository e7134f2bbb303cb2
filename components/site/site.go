package site

import (
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"airgap-site/components/access"
	"airgap-site/components/images"
	"airgap-site/components/objectstore"
	"airgap-site/components/registry"
	"airgap-site/components/talos"
	"airgap-site/siteconfig"
)

// Type is the component's Pulumi type token.
const Type = "airgap-site:site:Site"

// Args is a validated config plus the kubeconfig contents (unused when Talos is managed:
// the cluster's own kubeconfig is read from Talos then).
type Args struct {
	Config     *siteconfig.Config
	Kubeconfig string
	// ProjectDir resolves relative paths in the config (the image bundle).
	ProjectDir string
}

// Site is one factory site.
type Site struct {
	pulumi.ResourceState

	Talos *talos.Talos
	// MirrorPatch is the full mirror patch once the registry is Ready (talos.ReadyPatch): no
	// bootstrap endpoint. The stack exports it as talosMirrorPatch.
	MirrorPatch pulumi.StringOutput
	// ImagePinPatch keeps the registry's own images on the nodes through kubelet's image GC
	// (ImagePinPatch); the stack exports it as talosImagePinPatch.
	ImagePinPatch string
	Access        *access.SiteAccess
	ObjectStore   *objectstore.ObjectStore
	Registry      *registry.Registry
	Images        *images.Images
}

// New composes the site: its generated credentials, the Talos mirrors (applied to the nodes
// when managed), a Kubernetes provider for the cluster, the object store, the registry that
// waits for it, and the images that wait for the registry.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Site, error) {
	c := args.Config
	if err := c.ResolveBootstrapCA(args.ProjectDir); err != nil {
		return nil, err
	}
	bundleDir := c.BundleDir(args.ProjectDir)
	trustedKeys, trust, err := TrustedKeys(c, args.ProjectDir)
	if err != nil {
		return nil, err
	}
	registryImage, err := PinnedImage("registry.image", c.Registry.Image, bundleDir, trust)
	if err != nil {
		return nil, err
	}
	objectStore := c.ObjectStore
	if t := objectStore.Tenant; t != nil && objectStore.Kind == siteconfig.ObjectStoreMinioTenant {
		pinned := *t
		if pinned.Image, err = PinnedImage("objectStore.tenant.image", t.Image, bundleDir, trust); err != nil {
			return nil, err
		}
		objectStore.Tenant = &pinned
	}
	pinPatch, err := ImagePinPatch(c, registryImage, objectStore)
	if err != nil {
		return nil, err
	}
	s := &Site{ImagePinPatch: pinPatch}
	if err := ctx.RegisterComponentResource(Type, name, s, opts...); err != nil {
		return nil, err
	}
	var creds *talos.Credentials
	var push *images.PushIdentity
	var regAccess *registry.Access
	if !c.Registry.PlainHTTP {
		if s.Access, err = access.NewSiteAccess(ctx, name, c, pulumi.Parent(s)); err != nil {
			return nil, err
		}
		creds = &talos.Credentials{CA: s.Access.CA, PullPassword: s.Access.Pull.Result}
		push = &images.PushIdentity{CA: s.Access.CA, Password: s.Access.Push.Result}
		regAccess = s.Access.Registry()
	}
	// A plainHTTP site is warned about at every preview by siteconfig's validation.
	nodes, err := talos.New(ctx, name, c, creds, pulumi.Parent(s))
	if err != nil {
		return nil, err
	}
	kubeconfig := pulumi.ToSecret(pulumi.String(args.Kubeconfig)).(pulumi.StringOutput)
	if nodes.Managed {
		kubeconfig = nodes.Kubeconfig
	}
	k8s, err := kubernetes.NewProvider(ctx, name, &kubernetes.ProviderArgs{
		Kubeconfig: kubeconfig,
		Context:    pulumi.StringPtr(c.Kubernetes.Context),
	}, pulumi.Parent(s))
	if err != nil {
		return nil, err
	}
	children := []pulumi.ResourceOption{pulumi.Parent(s), pulumi.Providers(k8s)}

	// The bundle is accepted (not older than the newest this site took) before the registry
	// and MinIO pods pinned from it roll and before any image of it is copied.
	accepted, err := images.Accept(ctx, name, c, args.ProjectDir, trustedKeys, pulumi.Parent(s))
	if err != nil {
		return nil, err
	}
	var fromBundle []pulumi.Resource
	if accepted != nil {
		fromBundle = []pulumi.Resource{accepted}
	}
	store, err := objectstore.New(ctx, name, objectstore.Args{
		Site: c.Site, ObjectStore: objectStore, Secrets: c.Secrets,
		RegistryNamespace: c.Registry.Namespace, NodeIPs: nodeIPs(c),
		WaitFor: fromBundle,
	}, children...)
	if err != nil {
		return nil, err
	}
	reg, err := registry.New(ctx, name, registry.Args{
		Site:     c.Site,
		Registry: c.Registry,
		Image:    registryImage,
		Access:   regAccess,
		Storage: registry.StorageInput{
			Endpoint:      store.EndpointURL,
			Region:        store.Region,
			Bucket:        store.BucketName,
			RootDirectory: store.RootDirectory,
		},
		AccessKey:     store.AccessKey,
		SecretKey:     store.SecretKey,
		PullAccessKey: store.PullAccessKey,
		PullSecretKey: store.PullSecretKey,
		HTTPSecret:    pulumi.ToSecret(pulumi.String(HTTPSecret(c))).(pulumi.StringOutput),
		StorageReady:  append(store.Ready, fromBundle...),
		NodeIPs:       nodeIPs(c),
	}, children...)
	if err != nil {
		return nil, err
	}
	imgs, err := images.New(ctx, name, images.Args{
		Config:        c,
		RegistryReady: []pulumi.Resource{reg.Service, reg.PushService},
		ProjectDir:    args.ProjectDir,
		Push:          push,
		TrustedKeys:   trustedKeys,
		Accepted:      accepted,
		Kubeconfig:    kubeconfig,
		KubeContext:   c.Kubernetes.Context,
		StoreReader:   &images.StoreIdentity{AccessKey: store.PullAccessKey, SecretKey: store.PullSecretKey},
	}, children...)
	if err != nil {
		return nil, err
	}
	s.Talos, s.ObjectStore, s.Registry, s.Images = nodes, store, reg, imgs
	s.MirrorPatch = talos.ReadyPatch(c, creds, reg.Service.ID())
	return s, ctx.RegisterResourceOutputs(s, pulumi.Map{
		"registryNamespace":    reg.Namespace,
		"registryNodePort":     reg.NodePort,
		"registryPushNodePort": reg.PushNodePort,
	})
}

// nodeIPs are the addresses of the site's nodes, in config order.
func nodeIPs(c *siteconfig.Config) []string {
	ips := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		ips[i] = n.IP
	}
	return ips
}
