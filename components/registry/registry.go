package registry

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"airgap-site/components/internal/kube"
	"airgap-site/siteconfig"
	"airgap-site/sitecontract"
)

// Type is the component's Pulumi type token.
const Type = "airgap-site:registry:Registry"

// Names of the Kubernetes objects and Secret keys.
const (
	AppName  = sitecontract.RegistryName
	PushName = sitecontract.RegistryPushName
	// SecretName holds the pull endpoint's S3 key pair, PushSecretName the push endpoint's:
	// each Deployment can reference only its own.
	SecretName     = "registry-credentials"
	PushSecretName = "registry-push-credentials"
	TLSSecretName  = "registry-tls"
	ConfigDir      = sitecontract.RegistryConfigDir
	ConfigFile     = sitecontract.RegistryConfigFile
	KeyAccessKey   = "s3-access-key"
	KeySecretKey   = "s3-secret-key"
	KeyHTTPSecret  = "http-secret"
	KeyHtpasswd    = "htpasswd"
	AnnotationHash = "airgap-site/config-digest"
	// AnnotationCredentials changes whenever the serving certificate or a password does, so
	// the pods roll: the registry reads its key pair and htpasswd at start.
	AnnotationCredentials = "airgap-site/credentials-revision"
	// AnnotationStorageCredentials changes whenever the role's S3 key pair does, so the pods
	// roll onto it (environment from a Secret is read at start only). It is an HMAC under the
	// HTTP secret: it says nothing of the keys to whoever reads the Deployment.
	AnnotationStorageCredentials = "airgap-site/storage-credentials-revision"
	// AnnotationPlainHTTP marks the config of a registry.plainHTTP site: the policy pack's
	// TLS-and-auth check lets it pass (the stack's validation warns at every preview).
	AnnotationPlainHTTP = "airgap-site/plain-http"
	// RunAsUser is the unprivileged user the registry runs as (nobody): the stock image
	// would run as root.
	RunAsUser = 65534
)

// HtpasswdSecretName names the Secret holding a role's htpasswd.
func HtpasswdSecretName(role Role) string { return "registry-" + string(role) + "-htpasswd" }

// Args wires the registry to its site and bucket. Credentials must be secret outputs.
type Args struct {
	Site     string
	Registry siteconfig.Registry
	// Image is the registry image, by digest.
	Image   string
	Storage StorageInput
	// AccessKey and SecretKey are the push endpoint's S3 identity (it writes the bucket),
	// PullAccessKey and PullSecretKey the pull endpoint's, which should only read it.
	AccessKey     pulumi.StringInput
	SecretKey     pulumi.StringInput
	PullAccessKey pulumi.StringInput
	PullSecretKey pulumi.StringInput
	HTTPSecret    pulumi.StringInput
	// Access is the TLS key pair and the htpasswd files; nil with registry.plainHTTP.
	Access *Access
	// StorageReady are the resources that must exist before pods start (bucket, tenant, and the
	// accepted bundle the registry image is pinned from).
	StorageReady []pulumi.Resource
	// NodeIPs are the nodes' addresses: the NetworkPolicy opens the debug port to them only.
	NodeIPs []string
}

// Access is what the registry needs of the site's generated credentials.
type Access struct {
	CertPEM, KeyPEM            pulumi.StringInput
	PullHtpasswd, PushHtpasswd pulumi.StringInput
	// Revision changes whenever any of the above does.
	Revision pulumi.StringInput
}

// Registry is the deployed registry: a read-only pull endpoint and a push endpoint on one
// bucket.
type Registry struct {
	pulumi.ResourceState

	Namespace    pulumi.StringOutput `pulumi:"namespace"`
	ConfigDigest pulumi.StringOutput `pulumi:"configDigest"`
	NodePort     pulumi.IntOutput    `pulumi:"nodePort"`
	PushNodePort pulumi.IntOutput    `pulumi:"pushNodePort"`
	// ConfigYAML is the pull endpoint's rendered config.yml, PushConfigYAML the push
	// endpoint's; both known at plan time.
	ConfigYAML     []byte
	PushConfigYAML []byte
	Deployment     *appsv1.Deployment
	PushDeployment *appsv1.Deployment
	Service        *corev1.Service
	PushService    *corev1.Service
}

// endpoint is one role's rendered config and the objects that serve it.
type endpoint struct {
	role       Role
	name       string // object names
	resource   string // Pulumi resource name
	replicas   int
	nodePort   int
	configYAML []byte
	digest     string
	deployment *appsv1.Deployment
	service    *corev1.Service
}

// New renders the registry configs and declares the objects that run them.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Registry, error) {
	rc := args.Registry
	if rc.PlainHTTP != (args.Access == nil) {
		return nil, fmt.Errorf("registry: credentials are required unless registry.plainHTTP is set, and unused with it")
	}
	// Existing stacks keep the pull endpoint's resource names: an upgrade updates in place.
	eps := []*endpoint{
		{role: RolePull, name: AppName, resource: name, replicas: rc.Replicas, nodePort: rc.NodePort},
		{role: RolePush, name: PushName, resource: name + "-push", replicas: 1, nodePort: rc.PushNodePort},
	}
	for _, ep := range eps {
		cfg, err := Render(Input{Storage: args.Storage, LogLevel: rc.LogLevel, Role: ep.role, PlainHTTP: rc.PlainHTTP})
		if err != nil {
			return nil, err
		}
		if ep.configYAML, err = cfg.YAML(); err != nil {
			return nil, err
		}
		ep.digest = Digest(ep.configYAML)
	}

	r := &Registry{ConfigYAML: eps[0].configYAML, PushConfigYAML: eps[1].configYAML}
	if err := ctx.RegisterComponentResource(Type, name, r, opts...); err != nil {
		return nil, err
	}
	ns, err := kube.NewNamespace(ctx, name, rc.Namespace, pulumi.ToStringMap(kube.Labels(AppName, args.Site, sitecontract.RegistryComponent)), kube.EnforceRestricted, r)
	if err != nil {
		return nil, err
	}
	d := &declarer{ctx: ctx, ns: ns, args: args, storage: map[Role]*corev1.Secret{}, storageRevision: map[Role]pulumi.StringOutput{}}
	// Existing stacks keep the pull endpoint's Secret (and resource) name, which now holds the
	// pull identity's keys; the push endpoint gets a Secret of its own.
	for _, c := range []struct {
		role                Role
		resource, secret    string
		accessKey, secretKy pulumi.StringInput
	}{
		{RolePull, name + "-credentials", SecretName, args.PullAccessKey, args.PullSecretKey},
		{RolePush, name + "-push-credentials", PushSecretName, args.AccessKey, args.SecretKey},
	} {
		if d.storage[c.role], err = corev1.NewSecret(ctx, c.resource, &corev1.SecretArgs{
			Metadata: ns.Meta(c.secret),
			Type:     pulumi.String("Opaque"),
			StringData: pulumi.StringMap{
				KeyAccessKey:  secret(c.accessKey),
				KeySecretKey:  secret(c.secretKy),
				KeyHTTPSecret: secret(args.HTTPSecret),
			},
		}, ns.Opts...); err != nil {
			return nil, err
		}
		// Not secret: the HMAC reveals nothing, and the diff can show that the pods roll.
		d.storageRevision[c.role] = pulumi.Unsecret(pulumi.All(args.HTTPSecret, c.accessKey, c.secretKy).ApplyT(func(v []any) string {
			return StorageRevision(v[0].(string), v[1].(string), v[2].(string))
		})).(pulumi.StringOutput)
	}
	if a := args.Access; a != nil {
		if d.tls, err = corev1.NewSecret(ctx, name+"-tls", &corev1.SecretArgs{
			Metadata:   ns.Meta(TLSSecretName),
			Type:       pulumi.String("kubernetes.io/tls"),
			StringData: pulumi.StringMap{"tls.crt": a.CertPEM, "tls.key": secret(a.KeyPEM)},
		}, ns.Opts...); err != nil {
			return nil, err
		}
		d.htpasswd = map[Role]*corev1.Secret{}
		for role, file := range map[Role]pulumi.StringInput{RolePull: a.PullHtpasswd, RolePush: a.PushHtpasswd} {
			if d.htpasswd[role], err = corev1.NewSecret(ctx, name+"-"+string(role)+"-htpasswd", &corev1.SecretArgs{
				Metadata:   ns.Meta(HtpasswdSecretName(role)),
				Type:       pulumi.String("Opaque"),
				StringData: pulumi.StringMap{KeyHtpasswd: secret(file)},
			}, ns.Opts...); err != nil {
				return nil, err
			}
		}
	}
	for _, ep := range eps {
		if err := d.endpoint(name, ep); err != nil {
			return nil, err
		}
	}
	policy, err := RenderNetworkPolicy(NetworkPolicyInput{Site: args.Site, Namespace: rc.Namespace, NodeIPs: args.NodeIPs})
	if err != nil {
		return nil, err
	}
	if _, err := kube.NewNetworkPolicy(ctx, name+"-ingress", policy, ns); err != nil {
		return nil, err
	}
	if _, err := policyv1.NewPodDisruptionBudget(ctx, name, &policyv1.PodDisruptionBudgetArgs{
		Metadata: ns.Meta(AppName),
		Spec: &policyv1.PodDisruptionBudgetSpecArgs{
			MaxUnavailable: pulumi.Int(1),
			Selector:       &metav1.LabelSelectorArgs{MatchLabels: selectorOf(args.Site, RolePull)},
		},
	}, ns.Opts...); err != nil {
		return nil, err
	}

	pull, push := eps[0], eps[1]
	r.Namespace = ns.Name()
	r.ConfigDigest = pulumi.String(pull.digest).ToStringOutput()
	r.NodePort = pull.service.Spec.Ports().Index(pulumi.Int(0)).NodePort().Elem()
	r.PushNodePort = push.service.Spec.Ports().Index(pulumi.Int(0)).NodePort().Elem()
	r.Deployment, r.Service = pull.deployment, pull.service
	r.PushDeployment, r.PushService = push.deployment, push.service
	return r, ctx.RegisterResourceOutputs(r, pulumi.Map{
		"namespace":    r.Namespace,
		"configDigest": r.ConfigDigest,
		"nodePort":     r.NodePort,
		"pushNodePort": r.PushNodePort,
	})
}

// declarer declares one registry's objects in its namespace.
type declarer struct {
	ctx      *pulumi.Context
	ns       *kube.Namespace
	args     Args
	storage  map[Role]*corev1.Secret
	tls      *corev1.Secret
	htpasswd map[Role]*corev1.Secret
	// storageRevision is AnnotationStorageCredentials of each role.
	storageRevision map[Role]pulumi.StringOutput
}

func selectorOf(site string, role Role) pulumi.StringMap {
	return pulumi.ToStringMap(kube.SelectorLabels(AppName, site, componentOf(role)))
}

func componentOf(role Role) string {
	if role == RolePull {
		return sitecontract.RegistryComponent
	}
	return PushName
}

// endpoint declares the ConfigMap, Deployment and NodePort Service of one role.
func (d *declarer) endpoint(name string, ep *endpoint) error {
	ctx, ns, args := d.ctx, d.ns, d.args
	labels := pulumi.ToStringMap(kube.Labels(AppName, args.Site, componentOf(ep.role)))
	selector := selectorOf(args.Site, ep.role)
	meta := func(objName string) *metav1.ObjectMetaArgs {
		return &metav1.ObjectMetaArgs{Name: pulumi.String(objName), Namespace: ns.Name(), Labels: labels}
	}
	// The ConfigMap is named by content: a config change creates the new ConfigMap first and
	// rolls the Deployment onto it, instead of deleting the ConfigMap (and the Deployment that
	// mounts it) before recreating them, which would take every registry pod down at once.
	configMeta := meta(ConfigMapName(ep.role, ep.digest))
	if args.Registry.PlainHTTP {
		configMeta.Annotations = pulumi.StringMap{AnnotationPlainHTTP: pulumi.String("true")}
	}
	configMap, err := corev1.NewConfigMap(ctx, ep.resource+"-config", &corev1.ConfigMapArgs{
		Metadata: configMeta,
		Data:     pulumi.StringMap{ConfigFile: pulumi.String(string(ep.configYAML))},
	}, ns.Opts...)
	if err != nil {
		return err
	}
	annotations := pulumi.StringMap{
		AnnotationHash:               pulumi.String(ep.digest),
		AnnotationStorageCredentials: d.storageRevision[ep.role],
	}
	if args.Access != nil {
		annotations[AnnotationCredentials] = args.Access.Revision.ToStringOutput()
	}
	ep.deployment, err = appsv1.NewDeployment(ctx, ep.resource, &appsv1.DeploymentArgs{
		Metadata: meta(ep.name),
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(ep.replicas),
			Selector: &metav1.LabelSelectorArgs{MatchLabels: selector},
			Strategy: &appsv1.DeploymentStrategyArgs{
				Type: pulumi.String("RollingUpdate"),
				RollingUpdate: &appsv1.RollingUpdateDeploymentArgs{
					MaxUnavailable: pulumi.Int(0),
					MaxSurge:       pulumi.Int(1),
				},
			},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: labels, Annotations: annotations},
				Spec:     d.podSpec(ep, selector, configMap),
			},
		},
	}, append(ns.Opts, pulumi.DependsOn(args.StorageReady))...)
	if err != nil {
		return err
	}
	portName := "https"
	if args.Registry.PlainHTTP {
		portName = "http"
	}
	ep.service, err = corev1.NewService(ctx, ep.resource, &corev1.ServiceArgs{
		Metadata: meta(ep.name),
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String("NodePort"),
			Selector: selector,
			Ports: corev1.ServicePortArray{&corev1.ServicePortArgs{
				Name:       pulumi.String(portName),
				Port:       pulumi.Int(Port),
				TargetPort: pulumi.String("registry"),
				NodePort:   pulumi.Int(ep.nodePort),
			}},
		},
	}, append(ns.Opts, pulumi.DependsOn([]pulumi.Resource{ep.deployment}))...)
	return err
}

// ConfigMapName names the ConfigMap holding a role's config.yml by its digest.
func ConfigMapName(role Role, digest string) string {
	const prefix = len("sha256:")
	if role == RolePull {
		return fmt.Sprintf("registry-config-%s", digest[prefix:prefix+10])
	}
	return fmt.Sprintf("registry-%s-config-%s", role, digest[prefix:prefix+10])
}

// ReadinessPeriodSeconds is how often kubelet asks a registry pod whether it serves.
const ReadinessPeriodSeconds = 2

// PreStopSeconds is how long a terminating registry pod keeps serving: longer than kube-proxy
// takes to drop its endpoint (about a second), well under the 30 s grace period.
const PreStopSeconds = 5

// secretFileMode lets the registry's group, and no one else, read the key and htpasswd.
const secretFileMode = 0o440

func (d *declarer) podSpec(ep *endpoint, selector pulumi.StringMap, configMap *corev1.ConfigMap) *corev1.PodSpecArgs {
	rc := d.args.Registry
	fromSecret := func(env, key string) *corev1.EnvVarArgs {
		return &corev1.EnvVarArgs{
			Name: pulumi.String(env),
			ValueFrom: &corev1.EnvVarSourceArgs{SecretKeyRef: &corev1.SecretKeySelectorArgs{
				Name: d.storage[ep.role].Metadata.Name().Elem(), Key: pulumi.String(key),
			}},
		}
	}
	// Readiness is probed often: a pod that starts (after a garbage collection brings the push
	// endpoint back, after a power cut) serves as soon as it answers, not up to a period
	// later, and one whose storage fails leaves the Service within ReadinessPeriodSeconds x 3.
	// Liveness is probed seldom: an S3 outage must not restart every pod.
	probe := func(period, failures int) *corev1.ProbeArgs {
		return &corev1.ProbeArgs{
			HttpGet:          &corev1.HTTPGetActionArgs{Path: pulumi.String(HealthPath), Port: pulumi.String("debug")},
			PeriodSeconds:    pulumi.Int(period),
			TimeoutSeconds:   pulumi.Int(min(period, 5)),
			FailureThreshold: pulumi.Int(failures),
		}
	}
	var tolerations corev1.TolerationArray
	for _, t := range rc.Tolerations {
		tolerations = append(tolerations, &corev1.TolerationArgs{
			Key: optional(t.Key), Operator: optional(t.Operator), Value: optional(t.Value), Effect: optional(t.Effect),
		})
	}
	mounts := corev1.VolumeMountArray{
		&corev1.VolumeMountArgs{Name: pulumi.String("config"), MountPath: pulumi.String(ConfigDir), ReadOnly: pulumi.Bool(true)},
		// The root filesystem is read-only; anything the registry writes is scratch.
		&corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
	}
	volumes := corev1.VolumeArray{
		&corev1.VolumeArgs{Name: pulumi.String("config"), ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: configMap.Metadata.Name().Elem()}},
		&corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("64Mi")}},
	}
	if d.tls != nil {
		mounts = append(mounts,
			&corev1.VolumeMountArgs{Name: pulumi.String("tls"), MountPath: pulumi.String(TLSDir), ReadOnly: pulumi.Bool(true)},
			&corev1.VolumeMountArgs{Name: pulumi.String("auth"), MountPath: pulumi.String(AuthDir), ReadOnly: pulumi.Bool(true)})
		volumes = append(volumes,
			&corev1.VolumeArgs{Name: pulumi.String("tls"), Secret: &corev1.SecretVolumeSourceArgs{
				SecretName: d.tls.Metadata.Name().Elem(), DefaultMode: pulumi.Int(secretFileMode)}},
			&corev1.VolumeArgs{Name: pulumi.String("auth"), Secret: &corev1.SecretVolumeSourceArgs{
				SecretName: d.htpasswd[ep.role].Metadata.Name().Elem(), DefaultMode: pulumi.Int(secretFileMode)}})
	}
	var affinity *corev1.AffinityArgs
	if ep.replicas > 1 {
		affinity = &corev1.AffinityArgs{PodAntiAffinity: &corev1.PodAntiAffinityArgs{
			// Preferred, not required: a 2-replica registry must still schedule on a site
			// with one node left.
			PreferredDuringSchedulingIgnoredDuringExecution: corev1.WeightedPodAffinityTermArray{
				&corev1.WeightedPodAffinityTermArgs{
					Weight: pulumi.Int(100),
					PodAffinityTerm: &corev1.PodAffinityTermArgs{
						TopologyKey:   pulumi.String("kubernetes.io/hostname"),
						LabelSelector: &metav1.LabelSelectorArgs{MatchLabels: selector},
					},
				},
			},
		}}
	}
	return &corev1.PodSpecArgs{
		NodeSelector: pulumi.ToStringMap(rc.NodeSelector),
		Tolerations:  tolerations,
		Affinity:     affinity,
		// The registry never talks to the API server.
		AutomountServiceAccountToken: pulumi.Bool(false),
		SecurityContext: &corev1.PodSecurityContextArgs{
			RunAsNonRoot:   pulumi.Bool(true),
			RunAsUser:      pulumi.Int(RunAsUser),
			RunAsGroup:     pulumi.Int(RunAsUser),
			FsGroup:        pulumi.Int(RunAsUser),
			SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
		},
		Containers: corev1.ContainerArray{&corev1.ContainerArgs{
			Name:            pulumi.String(AppName),
			Image:           pulumi.String(d.args.Image),
			ImagePullPolicy: pulumi.String("IfNotPresent"),
			Args:            pulumi.ToStringArray([]string{"serve", ConfigDir + "/" + ConfigFile}),
			Ports: corev1.ContainerPortArray{
				&corev1.ContainerPortArgs{Name: pulumi.String("registry"), ContainerPort: pulumi.Int(Port)},
				&corev1.ContainerPortArgs{Name: pulumi.String("debug"), ContainerPort: pulumi.Int(DebugPort)},
			},
			Env: corev1.EnvVarArray{
				fromSecret(EnvAccessKey, KeyAccessKey),
				fromSecret(EnvSecretKey, KeySecretKey),
				fromSecret(EnvHTTPSecret, KeyHTTPSecret),
				// Nothing to export traces to on an air-gapped site.
				&corev1.EnvVarArgs{Name: pulumi.String("OTEL_TRACES_EXPORTER"), Value: pulumi.String("none")},
			},
			VolumeMounts:   mounts,
			ReadinessProbe: probe(ReadinessPeriodSeconds, 3),
			LivenessProbe:  probe(10, 6),
			// A pod being deleted keeps serving until kube-proxy has taken it out of the
			// NodePort's endpoints; without the pause, pulls in flight would hit a closed port.
			Lifecycle: &corev1.LifecycleArgs{PreStop: &corev1.LifecycleHandlerArgs{
				Sleep: &corev1.SleepActionArgs{Seconds: pulumi.Int(PreStopSeconds)},
			}},
			Resources: &corev1.ResourceRequirementsArgs{
				Requests: pulumi.ToStringMap(rc.Resources.Requests),
				Limits:   pulumi.ToStringMap(rc.Resources.Limits),
			},
			SecurityContext: &corev1.SecurityContextArgs{
				AllowPrivilegeEscalation: pulumi.Bool(false),
				ReadOnlyRootFilesystem:   pulumi.Bool(true),
				RunAsNonRoot:             pulumi.Bool(true),
				Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.ToStringArray([]string{"ALL"})},
				SeccompProfile:           &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
			},
		}},
		Volumes: volumes,
	}
}

// secret marks a value secret in state and diffs.
func secret(v pulumi.StringInput) pulumi.StringOutput {
	return pulumi.ToSecret(v.ToStringOutput()).(pulumi.StringOutput)
}

// optional is a string input that is left out when empty.
func optional(s string) pulumi.StringPtrInput {
	if s == "" {
		return nil
	}
	return pulumi.String(s)
}

// DNSNames are the in-cluster names of both endpoints' Services in namespace: the serving
// certificate covers them besides every node's address.
func DNSNames(namespace string) []string {
	var out []string
	for _, svc := range []string{AppName, PushName} {
		base := svc + "." + namespace
		out = append(out, base, base+".svc", base+".svc.cluster.local")
	}
	return out
}

// StorageRevision is AnnotationStorageCredentials of a key pair: an HMAC-SHA256 under the
// registry's HTTP secret, so the pod template changes with the keys without revealing them.
func StorageRevision(httpSecret, accessKey, secretKey string) string {
	mac := hmac.New(sha256.New, []byte(httpSecret))
	mac.Write([]byte(accessKey + "\x00" + secretKey))
	return hex.EncodeToString(mac.Sum(nil))[:16]
}
