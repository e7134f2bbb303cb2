package objectstore

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"airgap-site/components/internal/kube"
	"airgap-site/components/minio"
	"airgap-site/siteconfig"
)

// Type is the component's Pulumi type token.
const Type = "airgap-site:objectstore:ObjectStore"

// Keys of the tenant user Secret, as the MinIO operator reads them.
const (
	KeyUserAccessKey = "CONSOLE_ACCESS_KEY"
	KeyUserSecretKey = "CONSOLE_SECRET_KEY"
	KeyConfigEnv     = "config.env"
)

// Args selects and configures the object store.
type Args struct {
	Site        string
	ObjectStore siteconfig.ObjectStore
	Secrets     siteconfig.Secrets
	// RegistryNamespace and NodeIPs open a tenant's S3 port to the registry pods and to the
	// nodes' kubelets (RenderTenantNetworkPolicy).
	RegistryNamespace string
	NodeIPs           []string
	// WaitFor are resources the MinIO tenant waits for (the accepted bundle its image is
	// pinned from).
	WaitFor []pulumi.Resource
}

// ObjectStore is what the registry needs from its storage.
type ObjectStore struct {
	pulumi.ResourceState

	Endpoint pulumi.StringOutput `pulumi:"endpoint"`
	Bucket   pulumi.StringOutput `pulumi:"bucket"`
	// Plain copies, known at plan time, for renderers.
	EndpointURL   string
	BucketName    string
	Region        string
	RootDirectory string
	// AccessKey and SecretKey are the push endpoint's S3 identity, PullAccessKey and
	// PullSecretKey the pull endpoints' (read-only where the store can say so: see
	// siteconfig.Secrets.PullKeys).
	AccessKey     pulumi.StringOutput
	SecretKey     pulumi.StringOutput
	PullAccessKey pulumi.StringOutput
	PullSecretKey pulumi.StringOutput
	// Ready are the resources the registry pods must wait for.
	Ready []pulumi.Resource
}

// New declares the object store of the configured kind.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*ObjectStore, error) {
	o := args.ObjectStore
	pullAccess, pullSecret := args.Secrets.PullKeys(&o)
	s := &ObjectStore{
		PullAccessKey: secretString(pullAccess),
		PullSecretKey: secretString(pullSecret),
		BucketName:    o.Bucket,
		Region:        o.Region,
		RootDirectory: o.RootDirectory,
		AccessKey:     secretString(args.Secrets.S3AccessKey),
		SecretKey:     secretString(args.Secrets.S3SecretKey),
	}
	if err := ctx.RegisterComponentResource(Type, name, s, opts...); err != nil {
		return nil, err
	}
	switch o.Kind {
	case siteconfig.ObjectStoreExternal:
		s.EndpointURL = o.Endpoint
	case siteconfig.ObjectStoreMinioTenant:
		s.EndpointURL = TenantEndpoint(o.Tenant)
		ready, err := declareTenant(ctx, name, s, args)
		if err != nil {
			return nil, err
		}
		s.Ready = ready
	default:
		return nil, fmt.Errorf("objectStore.kind %q is not supported", o.Kind)
	}
	s.Endpoint = pulumi.String(s.EndpointURL).ToStringOutput()
	s.Bucket = pulumi.String(s.BucketName).ToStringOutput()
	return s, ctx.RegisterResourceOutputs(s, pulumi.Map{
		"endpoint": s.Endpoint,
		"bucket":   s.Bucket,
	})
}

func declareTenant(ctx *pulumi.Context, name string, s *ObjectStore, args Args) ([]pulumi.Resource, error) {
	tenant, err := RenderTenant(args.Site, args.ObjectStore)
	if err != nil {
		return nil, err
	}
	ns, err := kube.NewNamespace(ctx, name, tenant.Metadata.Namespace, pulumi.ToStringMap(tenant.Metadata.Labels), kube.WarnRestricted, s)
	if err != nil {
		return nil, err
	}
	inNamespace, meta := ns.Opts, ns.Meta

	rootUser := secretString(args.Secrets.MinioRootUser)
	rootPassword := secretString(args.Secrets.MinioRootPassword)
	configEnv := pulumi.All(rootUser, rootPassword).ApplyT(func(v []any) string {
		return ConfigEnv(v[0].(string), v[1].(string))
	}).(pulumi.StringOutput)
	configSecret, err := corev1.NewSecret(ctx, name+"-configuration", &corev1.SecretArgs{
		Metadata:   meta(tenant.Spec.Configuration.Name),
		Type:       pulumi.String("Opaque"),
		StringData: pulumi.StringMap{KeyConfigEnv: pulumi.ToSecret(configEnv).(pulumi.StringOutput)},
	}, inNamespace...)
	if err != nil {
		return nil, err
	}
	deps := append([]pulumi.Resource{configSecret}, args.WaitFor...)
	if !args.ObjectStore.TenantUsers() {
		userSecret, err := corev1.NewSecret(ctx, name+"-registry-user", &corev1.SecretArgs{
			Metadata: meta(tenant.Spec.Users[0].Name),
			Type:     pulumi.String("Opaque"),
			StringData: pulumi.StringMap{
				KeyUserAccessKey: s.AccessKey,
				KeyUserSecretKey: s.SecretKey,
			},
		}, inNamespace...)
		if err != nil {
			return nil, err
		}
		deps = append(deps, userSecret)
	}

	spec, err := toUntyped(tenant.Spec)
	if err != nil {
		return nil, err
	}
	cr, err := apiextensions.NewCustomResource(ctx, name+"-tenant", &apiextensions.CustomResourceArgs{
		ApiVersion:  pulumi.String(tenant.APIVersion),
		Kind:        pulumi.String(tenant.Kind),
		Metadata:    meta(tenant.Metadata.Name),
		OtherFields: kubernetes.UntypedArgs{"spec": spec},
	}, append(inNamespace, pulumi.DependsOn(deps))...)
	if err != nil {
		return nil, err
	}
	policy, err := RenderTenantNetworkPolicy(TenantPolicyInput{
		Site: args.Site, Tenant: args.ObjectStore.Tenant, RegistryNamespace: args.RegistryNamespace, NodeIPs: args.NodeIPs,
	})
	if err != nil {
		return nil, err
	}
	if _, err := kube.NewNetworkPolicy(ctx, name+"-s3-ingress", policy, ns); err != nil {
		return nil, err
	}
	ready := []pulumi.Resource{cr}
	if args.ObjectStore.TenantUsers() {
		users, err := declareTenantUsers(ctx, name, s, args, rootUser, rootPassword, cr)
		if err != nil {
			return nil, err
		}
		ready = append(ready, users.Ready()...)
	}
	return ready, nil
}

// declareTenantUsers declares the registry's push (read-write) and pull (read-only) users on
// the tenant through pulumi-minio, reached at objectStore.tenant.adminEndpoint with the root
// credentials, which go only into that provider's configuration.
func declareTenantUsers(ctx *pulumi.Context, name string, s *ObjectStore, args Args, rootUser, rootPassword pulumi.StringOutput, tenant pulumi.Resource) (*minio.BucketUsers, error) {
	server, ssl, err := siteconfig.AdminServer(args.ObjectStore.Tenant.AdminEndpoint)
	if err != nil {
		return nil, err
	}
	return minio.NewBucketUsers(ctx, name, minio.BucketUsersArgs{
		Admin: minio.Admin{
			Server: server, SSL: ssl, Region: args.ObjectStore.Region,
			User: rootUser, Password: rootPassword,
		},
		Bucket: args.ObjectStore.Bucket,
		Push:   minio.Identity{AccessKey: s.AccessKey, SecretKey: s.SecretKey},
		Pull:   minio.Identity{AccessKey: s.PullAccessKey, SecretKey: s.PullSecretKey},
	}, pulumi.Parent(s), pulumi.DependsOn([]pulumi.Resource{tenant}))
}

// toUntyped turns a rendered struct into the plain map a custom resource takes.
func toUntyped(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding tenant spec: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decoding tenant spec: %w", err)
	}
	return m, nil
}

func secretString(s siteconfig.Secret) pulumi.StringOutput {
	return pulumi.ToSecret(pulumi.String(s.Reveal())).(pulumi.StringOutput)
}
