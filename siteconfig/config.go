package siteconfig

import "airgap-site/sitecontract"

// ConfigNamespace is the Pulumi config namespace of the project (the `airgap-site:` prefix).
const ConfigNamespace = sitecontract.Project

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

// Kubernetes says how to reach the cluster.
type Kubernetes struct {
	// Kubeconfig is a path; empty means $KUBECONFIG, then ~/.kube/config.
	Kubeconfig string `json:"kubeconfig,omitempty"`
	Context    string `json:"context,omitempty"`
}
