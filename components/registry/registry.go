package registry

import (
	"fmt"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"airgap-site/components/internal/kube"
	"airgap-site/siteconfig"
)

// Type is the component's Pulumi type token.
const Type = "airgap-site:registry:Registry"

// Names of the Kubernetes objects and Secret keys.
const (
	AppName        = "registry"
	SecretName     = "registry-credentials"
	ConfigDir      = "/etc/distribution"
	ConfigFile     = "config.yml"
	KeyAccessKey   = "s3-access-key"
	KeySecretKey   = "s3-secret-key"
	KeyHTTPSecret  = "http-secret"
	AnnotationHash = "airgap-site/config-digest"
)

// Args wires the registry to its site and bucket. Credentials must be secret outputs.
type Args struct {
	Site       string
	Registry   siteconfig.Registry
	Storage    StorageInput
	AccessKey  pulumi.StringInput
	SecretKey  pulumi.StringInput
	HTTPSecret pulumi.StringInput
	// StorageReady are the resources that must exist before pods start (bucket, tenant).
	StorageReady []pulumi.Resource
}

// Registry is the deployed registry.
type Registry struct {
	pulumi.ResourceState

	Namespace    pulumi.StringOutput `pulumi:"namespace"`
	ConfigDigest pulumi.StringOutput `pulumi:"configDigest"`
	NodePort     pulumi.IntOutput    `pulumi:"nodePort"`
	// ConfigYAML is the rendered config.yml, known at plan time.
	ConfigYAML []byte
	Deployment *appsv1.Deployment
	Service    *corev1.Service
}

// New renders the registry config and declares the objects that run it.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Registry, error) {
	cfg, err := Render(Input{Storage: args.Storage, LogLevel: args.Registry.LogLevel})
	if err != nil {
		return nil, err
	}
	configYAML, err := cfg.YAML()
	if err != nil {
		return nil, err
	}
	digest := Digest(configYAML)

	r := &Registry{ConfigYAML: configYAML}
	if err := ctx.RegisterComponentResource(Type, name, r, opts...); err != nil {
		return nil, err
	}
	rc := args.Registry
	labels := pulumi.ToStringMap(kube.Labels(AppName, args.Site, "registry"))
	selector := pulumi.ToStringMap(kube.SelectorLabels(AppName, args.Site, "registry"))

	ns, err := kube.NewNamespace(ctx, name, rc.Namespace, labels, r)
	if err != nil {
		return nil, err
	}
	inNamespace, meta := ns.Opts, ns.Meta

	secret, err := corev1.NewSecret(ctx, name+"-credentials", &corev1.SecretArgs{
		Metadata: meta(SecretName),
		Type:     pulumi.String("Opaque"),
		StringData: pulumi.StringMap{
			KeyAccessKey:  pulumi.ToSecret(args.AccessKey).(pulumi.StringOutput),
			KeySecretKey:  pulumi.ToSecret(args.SecretKey).(pulumi.StringOutput),
			KeyHTTPSecret: pulumi.ToSecret(args.HTTPSecret).(pulumi.StringOutput),
		},
	}, inNamespace...)
	if err != nil {
		return nil, err
	}

	// The ConfigMap is named by content: a config change creates the new ConfigMap first and
	// rolls the Deployment onto it, instead of deleting the ConfigMap (and the Deployment that
	// mounts it) before recreating them, which would take every registry pod down at once.
	configMap, err := corev1.NewConfigMap(ctx, name+"-config", &corev1.ConfigMapArgs{
		Metadata: meta(ConfigMapName(digest)),
		Data:     pulumi.StringMap{ConfigFile: pulumi.String(string(configYAML))},
	}, inNamespace...)
	if err != nil {
		return nil, err
	}

	deployOpts := append(inNamespace, pulumi.DependsOn(args.StorageReady))
	deployment, err := appsv1.NewDeployment(ctx, name, &appsv1.DeploymentArgs{
		Metadata: meta(AppName),
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(rc.Replicas),
			Selector: &metav1.LabelSelectorArgs{MatchLabels: selector},
			Strategy: &appsv1.DeploymentStrategyArgs{
				Type: pulumi.String("RollingUpdate"),
				RollingUpdate: &appsv1.RollingUpdateDeploymentArgs{
					MaxUnavailable: pulumi.Int(0),
					MaxSurge:       pulumi.Int(1),
				},
			},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{
					Labels:      labels,
					Annotations: pulumi.StringMap{AnnotationHash: pulumi.String(digest)},
				},
				Spec: podSpec(rc, selector, configMap, secret),
			},
		},
	}, deployOpts...)
	if err != nil {
		return nil, err
	}

	if _, err := policyv1.NewPodDisruptionBudget(ctx, name, &policyv1.PodDisruptionBudgetArgs{
		Metadata: meta(AppName),
		Spec: &policyv1.PodDisruptionBudgetSpecArgs{
			MaxUnavailable: pulumi.Int(1),
			Selector:       &metav1.LabelSelectorArgs{MatchLabels: selector},
		},
	}, inNamespace...); err != nil {
		return nil, err
	}

	service, err := corev1.NewService(ctx, name, &corev1.ServiceArgs{
		Metadata: meta(AppName),
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String("NodePort"),
			Selector: selector,
			Ports: corev1.ServicePortArray{&corev1.ServicePortArgs{
				Name:       pulumi.String("http"),
				Port:       pulumi.Int(Port),
				TargetPort: pulumi.String("http"),
				NodePort:   pulumi.Int(rc.NodePort),
			}},
		},
	}, append(inNamespace, pulumi.DependsOn([]pulumi.Resource{deployment}))...)
	if err != nil {
		return nil, err
	}

	r.Namespace = ns.Name()
	r.ConfigDigest = pulumi.String(digest).ToStringOutput()
	r.NodePort = service.Spec.Ports().Index(pulumi.Int(0)).NodePort().Elem()
	r.Deployment = deployment
	r.Service = service
	return r, ctx.RegisterResourceOutputs(r, pulumi.Map{
		"namespace":    r.Namespace,
		"configDigest": r.ConfigDigest,
		"nodePort":     r.NodePort,
	})
}

// ConfigMapName names the ConfigMap holding a config.yml by its digest.
func ConfigMapName(digest string) string {
	const prefix = len("sha256:")
	return fmt.Sprintf("registry-config-%s", digest[prefix:prefix+10])
}

// PreStopSeconds is how long a terminating registry pod keeps serving: longer than kube-proxy
// takes to drop its endpoint (about a second), well under the 30 s grace period.
const PreStopSeconds = 5

func podSpec(rc siteconfig.Registry, selector pulumi.StringMap, configMap *corev1.ConfigMap, secret *corev1.Secret) *corev1.PodSpecArgs {
	fromSecret := func(env, key string) *corev1.EnvVarArgs {
		return &corev1.EnvVarArgs{
			Name: pulumi.String(env),
			ValueFrom: &corev1.EnvVarSourceArgs{SecretKeyRef: &corev1.SecretKeySelectorArgs{
				Name: secret.Metadata.Name().Elem(), Key: pulumi.String(key),
			}},
		}
	}
	probe := func(failures int) *corev1.ProbeArgs {
		return &corev1.ProbeArgs{
			HttpGet:          &corev1.HTTPGetActionArgs{Path: pulumi.String("/v2/"), Port: pulumi.String("http")},
			PeriodSeconds:    pulumi.Int(10),
			TimeoutSeconds:   pulumi.Int(5),
			FailureThreshold: pulumi.Int(failures),
		}
	}
	var tolerations corev1.TolerationArray
	for _, t := range rc.Tolerations {
		tolerations = append(tolerations, &corev1.TolerationArgs{
			Key: optional(t.Key), Operator: optional(t.Operator), Value: optional(t.Value), Effect: optional(t.Effect),
		})
	}
	return &corev1.PodSpecArgs{
		NodeSelector: pulumi.ToStringMap(rc.NodeSelector),
		Tolerations:  tolerations,
		Affinity: &corev1.AffinityArgs{PodAntiAffinity: &corev1.PodAntiAffinityArgs{
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
		}},
		Containers: corev1.ContainerArray{&corev1.ContainerArgs{
			Name:            pulumi.String(AppName),
			Image:           pulumi.String(rc.Image),
			ImagePullPolicy: pulumi.String("IfNotPresent"),
			Args:            pulumi.ToStringArray([]string{"serve", ConfigDir + "/" + ConfigFile}),
			Ports: corev1.ContainerPortArray{&corev1.ContainerPortArgs{
				Name: pulumi.String("http"), ContainerPort: pulumi.Int(Port),
			}},
			Env: corev1.EnvVarArray{
				fromSecret(EnvAccessKey, KeyAccessKey),
				fromSecret(EnvSecretKey, KeySecretKey),
				fromSecret(EnvHTTPSecret, KeyHTTPSecret),
				// Nothing to export traces to on an air-gapped site.
				&corev1.EnvVarArgs{Name: pulumi.String("OTEL_TRACES_EXPORTER"), Value: pulumi.String("none")},
			},
			VolumeMounts: corev1.VolumeMountArray{&corev1.VolumeMountArgs{
				Name: pulumi.String("config"), MountPath: pulumi.String(ConfigDir), ReadOnly: pulumi.Bool(true),
			}},
			ReadinessProbe: probe(3),
			LivenessProbe:  probe(6),
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
				Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.ToStringArray([]string{"ALL"})},
			},
		}},
		Volumes: corev1.VolumeArray{&corev1.VolumeArgs{
			Name:      pulumi.String("config"),
			ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: configMap.Metadata.Name().Elem()},
		}},
	}
}

// optional is a string input that is left out when empty.
func optional(s string) pulumi.StringPtrInput {
	if s == "" {
		return nil
	}
	return pulumi.String(s)
}
