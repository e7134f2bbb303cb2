// Command policyfixture is the site program plus one deliberate violation of an air-gap
// policy, chosen by the stack config key fixture:violation. The e2e suite previews it with the
// policy pack and expects the preview to fail naming the policy, the resource and the fix.
package main

import (
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"airgap-site/components/registry"
	"airgap-site/components/site"
	"airgap-site/siteconfig"
)

// Violations this fixture can add, by name.
var violations = map[string]func(ctx *pulumi.Context) error{
	"image-unmirrored": func(ctx *pulumi.Context) error {
		return deployment(ctx, "gcr.io/distroless/static:nonroot", "IfNotPresent", nil)
	},
	"pull-always": func(ctx *pulumi.Context) error {
		return deployment(ctx, "docker.io/library/nginx:1.27", "Always", nil)
	},
	"registry-redirect": func(ctx *pulumi.Context) error {
		return configMap(ctx, map[string]string{"config.yml": "version: 0.1\nstorage:\n  s3:\n    bucket: registry\n    region: us-east-1\n  redirect:\n    disable: false\n"})
	},
	"registry-open": func(ctx *pulumi.Context) error {
		return configMap(ctx, map[string]string{"config.yml": openRegistryConfig})
	},
	// Bypass attempts: the workload's own word that it may serve plain http, ...
	"registry-open-annotated": func(ctx *pulumi.Context) error {
		_, err := corev1.NewConfigMap(ctx, "fixture", &corev1.ConfigMapArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("fixture"), Namespace: pulumi.String("default"),
				Annotations: pulumi.StringMap{registry.AnnotationPlainHTTP: pulumi.String("true")}},
			Data: pulumi.StringMap{"config.yml": pulumi.String(openRegistryConfig)},
		})
		return err
	},
	// ... a registry config overridden from the environment, ...
	"registry-env-override": func(ctx *pulumi.Context) error {
		return deployment(ctx, "docker.io/library/nginx:1.27", "IfNotPresent", corev1.EnvVarArray{
			&corev1.EnvVarArgs{Name: pulumi.String("REGISTRY_STORAGE_REDIRECT_DISABLE"), Value: pulumi.String("false")},
		})
	},
	// ... and a writable registry that joins the node-facing Service's selector.
	"pull-endpoint-writable": writablePullEndpoint,
	"secret-in-configmap": func(ctx *pulumi.Context) error {
		return configMap(ctx, map[string]string{"config.env": "export MINIO_ROOT_PASSWORD=fixture-password\n"})
	},
	// A NodePort no stack of the suite holds: the preview's server-side dry run allocates it.
	"nodeport-mismatch": func(ctx *pulumi.Context) error {
		_, err := corev1.NewService(ctx, "fixture", &corev1.ServiceArgs{
			Metadata: meta(pulumi.StringMap{"app.kubernetes.io/name": pulumi.String("registry"), "app.kubernetes.io/component": pulumi.String("registry"),
				"app.kubernetes.io/part-of": pulumi.String("airgap-site")}),
			Spec: &corev1.ServiceSpecArgs{
				Type:     pulumi.String("NodePort"),
				Selector: pulumi.StringMap{"app": pulumi.String("fixture")},
				Ports:    corev1.ServicePortArray{&corev1.ServicePortArgs{Port: pulumi.Int(5000), NodePort: pulumi.Int(32091)}},
			},
		})
		return err
	},
	"talos-url-key": func(ctx *pulumi.Context) error {
		ctx.Export("talosMirrorPatch", pulumi.String("machine:\n  registries:\n    mirrors:\n      https://127.0.0.11:32000:\n        endpoints: [http://127.0.0.11:32000]\n    config:\n      https://127.0.0.11:32000:\n        tls: {insecureSkipVerify: true}\n"))
		return nil
	},
	"tenant-drives": func(ctx *pulumi.Context) error {
		_, err := apiextensions.NewCustomResource(ctx, "fixture", &apiextensions.CustomResourceArgs{
			ApiVersion: pulumi.String("minio.min.io/v2"),
			Kind:       pulumi.String("Tenant"),
			Metadata:   meta(nil),
			OtherFields: kubernetes.UntypedArgs{"spec": map[string]any{"pools": []any{map[string]any{
				"name": "pool-0", "servers": 3, "volumesPerServer": 1,
				"volumeClaimTemplate": map[string]any{"metadata": map[string]any{"name": "data"},
					"spec": map[string]any{"accessModes": []any{"ReadWriteOnce"}, "resources": map[string]any{"requests": map[string]any{"storage": "1Gi"}}}},
			}}}},
		})
		return err
	},
}

func main() {
	pulumi.Run(func(ctx *pulumi.Context) error {
		if err := site.Program(ctx); err != nil {
			return err
		}
		name := config.New(ctx, "fixture").Require("violation")
		add, ok := violations[name]
		if !ok {
			return fmt.Errorf("fixture:violation %q is not one of the known violations", name)
		}
		return add(ctx)
	})
}

func meta(labels pulumi.StringMap) *metav1.ObjectMetaArgs {
	return &metav1.ObjectMetaArgs{Name: pulumi.String("fixture"), Namespace: pulumi.String("default"), Labels: labels}
}

const openRegistryConfig = "version: 0.1\nhttp:\n  addr: :5000\nstorage:\n  s3:\n    bucket: registry\n    region: us-east-1\n  redirect:\n    disable: true\n"

// writablePullEndpoint runs a registry with the pull endpoint's own config, TLS, auth and all,
// but without read-only mode, under the labels the site's pull Service selects: the NodePort
// would send the nodes to it. The stack must not set registry.namespace or site (the kwok
// stack does not).
func writablePullEndpoint(ctx *pulumi.Context) error {
	cfg, err := registry.Render(registry.Input{
		Storage:  registry.StorageInput{Endpoint: "http://10.20.0.5:9000", Region: "us-east-1", Bucket: "registry", RootDirectory: "/registry"},
		LogLevel: "info", Role: registry.RolePull,
	})
	if err != nil {
		return err
	}
	cfg.Storage.Maintenance.ReadOnly = nil
	text, err := cfg.YAML()
	if err != nil {
		return err
	}
	ns := pulumi.String(siteconfig.DefaultRegistryNamespace)
	if _, err := corev1.NewConfigMap(ctx, "fixture", &corev1.ConfigMapArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("fixture"), Namespace: ns},
		Data:     pulumi.StringMap{registry.ConfigFile: pulumi.String(string(text))},
	}); err != nil {
		return err
	}
	labels := pulumi.StringMap{"app.kubernetes.io/name": pulumi.String(registry.AppName), "app.kubernetes.io/instance": pulumi.String(ctx.Stack()),
		"app.kubernetes.io/component": pulumi.String("registry")}
	_, err = appsv1.NewDeployment(ctx, "fixture", &appsv1.DeploymentArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("fixture"), Namespace: ns},
		Spec: &appsv1.DeploymentSpecArgs{
			Selector: &metav1.LabelSelectorArgs{MatchLabels: labels},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: labels},
				Spec: &corev1.PodSpecArgs{
					Volumes: corev1.VolumeArray{&corev1.VolumeArgs{Name: pulumi.String("config"),
						ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: pulumi.String("fixture")}}},
					Containers: corev1.ContainerArray{&corev1.ContainerArgs{
						Name: pulumi.String("registry"), Image: pulumi.String("docker.io/library/registry:3.1.2"), ImagePullPolicy: pulumi.String("IfNotPresent"),
						Args:         pulumi.ToStringArray([]string{"serve", registry.ConfigDir + "/" + registry.ConfigFile}),
						VolumeMounts: corev1.VolumeMountArray{&corev1.VolumeMountArgs{Name: pulumi.String("config"), MountPath: pulumi.String(registry.ConfigDir)}},
					}},
				},
			},
		},
	})
	return err
}

func deployment(ctx *pulumi.Context, image, pullPolicy string, env corev1.EnvVarArray) error {
	labels := pulumi.StringMap{"app": pulumi.String("fixture")}
	_, err := appsv1.NewDeployment(ctx, "fixture", &appsv1.DeploymentArgs{
		Metadata: meta(labels),
		Spec: &appsv1.DeploymentSpecArgs{
			Selector: &metav1.LabelSelectorArgs{MatchLabels: labels},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: labels},
				Spec: &corev1.PodSpecArgs{Containers: corev1.ContainerArray{&corev1.ContainerArgs{
					Name: pulumi.String("app"), Image: pulumi.String(image), ImagePullPolicy: pulumi.String(pullPolicy), Env: env,
				}}},
			},
		},
	})
	return err
}

func configMap(ctx *pulumi.Context, data map[string]string) error {
	_, err := corev1.NewConfigMap(ctx, "fixture", &corev1.ConfigMapArgs{Metadata: meta(nil), Data: pulumi.ToStringMap(data)})
	return err
}
