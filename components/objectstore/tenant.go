package objectstore

import (
	"fmt"

	"airgap-site/components/internal/kube"
	"airgap-site/siteconfig"
)

// Tenant custom resource identity (MinIO operator v5+).
const (
	TenantAPIVersion = "minio.min.io/v2"
	TenantKind       = "Tenant"
)

// TenantObject is the subset of the Tenant custom resource this project writes.
type TenantObject struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   ObjectMeta `json:"metadata"`
	Spec       TenantSpec `json:"spec"`
}

// ObjectMeta is the metadata of a rendered object.
type ObjectMeta struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// TenantSpec is the tenant's desired state.
type TenantSpec struct {
	Image         string   `json:"image"`
	Configuration LocalRef `json:"configuration"`
	Pools         []Pool   `json:"pools"`
	// RequestAutoCert is false: the registry talks plain http inside the cluster network, and
	// an operator-issued certificate would be one more thing to trust on every node.
	RequestAutoCert bool     `json:"requestAutoCert"`
	Buckets         []Bucket `json:"buckets"`
	// Users are created by the operator with consoleAdmin; none when the stack declares the
	// registry's users itself (objectStore.tenant.adminEndpoint, components/minio).
	Users []LocalRef `json:"users,omitempty"`
}

// LocalRef names a Secret in the tenant's namespace.
type LocalRef struct {
	Name string `json:"name"`
}

// Pool is a set of MinIO servers with their volumes.
type Pool struct {
	Name                string              `json:"name"`
	Servers             int                 `json:"servers"`
	VolumesPerServer    int                 `json:"volumesPerServer"`
	VolumeClaimTemplate VolumeClaimTemplate `json:"volumeClaimTemplate"`
	// The restricted Pod Security Standard for MinIO's pods and containers, set explicitly
	// rather than left to the operator's defaults.
	SecurityContext          PodSecurityContext       `json:"securityContext"`
	ContainerSecurityContext ContainerSecurityContext `json:"containerSecurityContext"`
}

// PodSecurityContext is the pod-level security context of a pool's servers.
type PodSecurityContext struct {
	RunAsNonRoot        bool           `json:"runAsNonRoot"`
	RunAsUser           int64          `json:"runAsUser"`
	RunAsGroup          int64          `json:"runAsGroup"`
	FSGroup             int64          `json:"fsGroup"`
	FSGroupChangePolicy string         `json:"fsGroupChangePolicy"`
	SeccompProfile      SeccompProfile `json:"seccompProfile"`
}

// ContainerSecurityContext is the MinIO container's security context.
type ContainerSecurityContext struct {
	RunAsNonRoot             bool           `json:"runAsNonRoot"`
	RunAsUser                int64          `json:"runAsUser"`
	RunAsGroup               int64          `json:"runAsGroup"`
	AllowPrivilegeEscalation bool           `json:"allowPrivilegeEscalation"`
	Capabilities             Capabilities   `json:"capabilities"`
	SeccompProfile           SeccompProfile `json:"seccompProfile"`
}

// SeccompProfile selects a seccomp profile.
type SeccompProfile struct {
	Type string `json:"type"`
}

// Capabilities adds and drops Linux capabilities.
type Capabilities struct {
	Drop []string `json:"drop"`
}

// minioUser is the unprivileged user of the MinIO image (the operator's default too).
const minioUser = 1000

// VolumeClaimTemplate is each server's PersistentVolumeClaim template.
type VolumeClaimTemplate struct {
	Metadata ObjectName `json:"metadata"`
	Spec     ClaimSpec  `json:"spec"`
}

// ObjectName is metadata with only a name.
type ObjectName struct {
	Name string `json:"name"`
}

// ClaimSpec is the PersistentVolumeClaim spec.
type ClaimSpec struct {
	AccessModes      []string       `json:"accessModes"`
	Resources        ClaimResources `json:"resources"`
	StorageClassName *string        `json:"storageClassName,omitempty"`
}

// ClaimResources requests storage.
type ClaimResources struct {
	Requests map[string]string `json:"requests"`
}

// Bucket is created by the operator when the tenant starts.
type Bucket struct {
	Name   string `json:"name"`
	Region string `json:"region"`
}

// Names of the Secrets the tenant references.
func configSecretName(tenant string) string { return tenant + "-env-configuration" }
func userSecretName(tenant string) string   { return tenant + "-registry-user" }

// Port of the tenant's "minio" Service when requestAutoCert is false.
const tenantServicePort = 80

// RenderTenant builds the Tenant for a minio-tenant site.
func RenderTenant(site string, o siteconfig.ObjectStore) (*TenantObject, error) {
	t := o.Tenant
	if t == nil {
		return nil, fmt.Errorf("rendering tenant: objectStore.tenant is not set")
	}
	var users []LocalRef
	if !o.TenantUsers() {
		users = []LocalRef{{Name: userSecretName(t.Name)}}
	}
	var storageClass *string
	if t.StorageClass != "" {
		storageClass = &t.StorageClass
	}
	return &TenantObject{
		APIVersion: TenantAPIVersion,
		Kind:       TenantKind,
		Metadata: ObjectMeta{
			Name:      t.Name,
			Namespace: t.Namespace,
			Labels:    kube.Labels("minio", site, "object-store"),
		},
		Spec: TenantSpec{
			Image:         t.Image,
			Configuration: LocalRef{Name: configSecretName(t.Name)},
			Pools: []Pool{{
				Name:             "pool-0",
				Servers:          t.Servers,
				VolumesPerServer: t.VolumesPerServer,
				VolumeClaimTemplate: VolumeClaimTemplate{
					Metadata: ObjectName{Name: "data"},
					Spec: ClaimSpec{
						AccessModes:      []string{"ReadWriteOnce"},
						Resources:        ClaimResources{Requests: map[string]string{"storage": t.Size}},
						StorageClassName: storageClass,
					},
				},
				SecurityContext: PodSecurityContext{
					RunAsNonRoot: true, RunAsUser: minioUser, RunAsGroup: minioUser, FSGroup: minioUser,
					FSGroupChangePolicy: "OnRootMismatch", SeccompProfile: SeccompProfile{Type: "RuntimeDefault"},
				},
				ContainerSecurityContext: ContainerSecurityContext{
					RunAsNonRoot: true, RunAsUser: minioUser, RunAsGroup: minioUser,
					Capabilities: Capabilities{Drop: []string{"ALL"}}, SeccompProfile: SeccompProfile{Type: "RuntimeDefault"},
				},
			}},
			RequestAutoCert: false,
			Buckets:         []Bucket{{Name: o.Bucket, Region: o.Region}},
			Users:           users,
		},
	}, nil
}

// TenantEndpoint is the in-cluster S3 URL of a tenant: the operator's "minio" Service. The
// registry pods resolve it through cluster DNS (only containerd on the nodes cannot).
func TenantEndpoint(t *siteconfig.Tenant) string {
	return fmt.Sprintf("http://minio.%s.svc.cluster.local:%d", t.Namespace, tenantServicePort)
}

// ConfigEnv is the tenant's config.env: the root credentials MinIO starts with.
func ConfigEnv(rootUser, rootPassword string) string {
	return fmt.Sprintf("export MINIO_ROOT_USER=%q\nexport MINIO_ROOT_PASSWORD=%q\n", rootUser, rootPassword)
}
