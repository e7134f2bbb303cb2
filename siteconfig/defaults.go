package siteconfig

import (
	"airgap-site/talosconfig"
)

// RegistryVersion is the distribution release the site deploys, and the one the test bed
// builds from tools/distribution/go.mod (a unit test holds the two together): the version
// tested is the version deployed.
const RegistryVersion = "3.1.2"

// Defaults. The registry image is the official distribution v3 image; the MinIO image is only
// ever deployed, never linked.
const (
	DefaultRegistryNamespace = "airgap-registry"
	DefaultNodePort          = 32000
	DefaultReplicas          = 2
	DefaultRegistryImage     = "docker.io/library/registry:" + RegistryVersion
	DefaultLogLevel          = "info"
	// The registry pods' limits (README, Security: what the bcrypt cost and the limits bound).
	DefaultRegistryCPULimit    = "1"
	DefaultRegistryMemoryLimit = "512Mi"
	DefaultBucket              = "registry"
	DefaultRegion              = "us-east-1"
	DefaultRootDirectory       = "/registry"
	DefaultTenantName          = "minio"
	DefaultTenantNamespace     = "minio-tenant"
	DefaultTenantImage         = "quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z"
	DefaultTenantServers       = 3
	DefaultTenantVolumes       = 2
	DefaultTenantSize          = "50Gi"
)

// New returns a config holding every default; stack names the site. Load decodes the stack's
// values over it, so a value set explicitly (even 0) is kept and validated, never replaced.
func New(stack string) *Config {
	return &Config{
		Site: stack,
		Registry: Registry{
			Namespace: DefaultRegistryNamespace,
			NodePort:  DefaultNodePort,
			Replicas:  DefaultReplicas,
			Image:     DefaultRegistryImage,
			LogLevel:  DefaultLogLevel,
			// Limits by default: a pod flooded with requests (or leaking) is throttled or
			// restarted instead of starving the node's kubelet and containerd.
			Resources: Resources{
				Requests: map[string]string{"cpu": "100m", "memory": "128Mi"},
				Limits:   map[string]string{"cpu": DefaultRegistryCPULimit, "memory": DefaultRegistryMemoryLimit},
			},
		},
		ObjectStore: ObjectStore{
			Bucket:        DefaultBucket,
			Region:        DefaultRegion,
			RootDirectory: DefaultRootDirectory,
		},
		Talos: Talos{
			Version:   talosconfig.DefaultVersion,
			ApplyMode: DefaultApplyMode,
			Upstreams: append([]string(nil), DefaultUpstreams...),
		},
	}
}

// DefaultTenant is the tenant of kind minio-tenant before the stack's tenant block applies:
// 3 servers x 2 volumes, the smallest layout MinIO erasure-codes across 3 nodes.
func DefaultTenant() Tenant {
	return Tenant{
		Name:             DefaultTenantName,
		Namespace:        DefaultTenantNamespace,
		Image:            DefaultTenantImage,
		Servers:          DefaultTenantServers,
		VolumesPerServer: DefaultTenantVolumes,
		Size:             DefaultTenantSize,
	}
}
