package siteconfig

// ConfigNamespace is the Pulumi config namespace of the project (the `airgap-site:` prefix).
const ConfigNamespace = "airgap-site"

// Stack config keys. Object keys hold YAML objects in stacks/Pulumi.<site>.yaml; secret keys
// hold strings set with `pulumi config set --secret`.
const (
	KeySite        = "site"
	KeyNodes       = "nodes"
	KeyRegistry    = "registry"
	KeyObjectStore = "objectStore"
	KeyKubernetes  = "kubernetes"

	KeyS3AccessKey        = "s3AccessKey"
	KeyS3SecretKey        = "s3SecretKey"
	KeyMinioRootUser      = "minioRootUser"
	KeyMinioRootPassword  = "minioRootPassword"
	KeyRegistryHTTPSecret = "registryHttpSecret"
	KeyRegistryPassword   = "registryPassword"
)

// Config is one site, fully typed. After Default and Validate every field is usable as is.
type Config struct {
	// Site names the factory site; it defaults to the stack name and labels every object.
	Site        string      `json:"site"`
	Nodes       []Node      `json:"nodes"`
	Registry    Registry    `json:"registry"`
	ObjectStore ObjectStore `json:"objectStore"`
	Kubernetes  Kubernetes  `json:"kubernetes"`
	Talos       Talos       `json:"talos"`
	Bootstrap   Bootstrap   `json:"bootstrap"`
	Images      Images      `json:"images"`
	Secrets     Secrets     `json:"secrets"`
}

// Role is a Talos machine type.
type Role string

// Node roles, as Talos names its machine types.
const (
	RoleControlPlane Role = "controlplane"
	RoleWorker       Role = "worker"
)

// Node is one Talos machine. Its IP is what containerd on every node dials to reach the
// registry's NodePort, since containerd runs outside the cluster and has no Service DNS.
type Node struct {
	Name string `json:"name"`
	IP   string `json:"ip"`
	Role Role   `json:"role"`
}

// Registry configures the in-cluster distribution registry.
type Registry struct {
	Namespace string    `json:"namespace"`
	NodePort  int       `json:"nodePort"`
	Replicas  int       `json:"replicas"`
	Image     string    `json:"image"`
	LogLevel  string    `json:"logLevel"`
	Resources Resources `json:"resources"`
}

// Resources are container requests and limits, as Kubernetes quantities.
type Resources struct {
	Requests map[string]string `json:"requests,omitempty"`
	Limits   map[string]string `json:"limits,omitempty"`
}

// Object store kinds.
const (
	ObjectStoreMinioTenant = "minio-tenant"
	ObjectStoreExternal    = "external"
)

// ObjectStore is where the registry keeps its blobs: a MinIO tenant the site deploys, or any
// S3 endpoint that already exists.
type ObjectStore struct {
	Kind          string `json:"kind"`
	Bucket        string `json:"bucket"`
	Region        string `json:"region"`
	RootDirectory string `json:"rootDirectory"`
	// Endpoint is the S3 URL the registry pods use (kind external).
	Endpoint string  `json:"endpoint,omitempty"`
	Tenant   *Tenant `json:"tenant,omitempty"`
}

// Tenant is a MinIO operator Tenant (kind minio-tenant). The operator must already run.
type Tenant struct {
	Name             string `json:"name"`
	Namespace        string `json:"namespace"`
	Image            string `json:"image"`
	Servers          int    `json:"servers"`
	VolumesPerServer int    `json:"volumesPerServer"`
	Size             string `json:"size"`
	StorageClass     string `json:"storageClass,omitempty"`
}

// Kubernetes says how to reach the cluster.
type Kubernetes struct {
	// Kubeconfig is a path; empty means $KUBECONFIG, then ~/.kube/config.
	Kubeconfig string `json:"kubeconfig,omitempty"`
	Context    string `json:"context,omitempty"`
}

// Secrets are read from encrypted top-level keys, never from the objects above.
type Secrets struct {
	S3AccessKey        Secret `json:"s3AccessKey"`
	S3SecretKey        Secret `json:"s3SecretKey"`
	MinioRootUser      Secret `json:"minioRootUser"`
	MinioRootPassword  Secret `json:"minioRootPassword"`
	RegistryHTTPSecret Secret `json:"registryHttpSecret"`
	// RegistryPassword authenticates node pulls (with talos.registry.username).
	RegistryPassword Secret `json:"registryPassword"`
}

// RegistryEndpoints lists host:port of the registry NodePort on every node, in node order:
// the addresses containerd pulls from.
func (c *Config) RegistryEndpoints() []string {
	out := make([]string, 0, len(c.Nodes))
	for _, n := range c.Nodes {
		out = append(out, hostPort(n.IP, c.Registry.NodePort))
	}
	return out
}
