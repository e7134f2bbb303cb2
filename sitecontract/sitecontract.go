package sitecontract

// Project is the Pulumi project's name, the namespace of its config keys
// (airgap-site:registry) and the app.kubernetes.io/part-of value of every object it manages.
const Project = "airgap-site"

// Stack outputs.
const (
	OutputSite                 = "site"
	OutputRegistryEndpoints    = "registryEndpoints"
	OutputRegistryNamespace    = "registryNamespace"
	OutputRegistryNodePort     = "registryNodePort"
	OutputRegistryPushNodePort = "registryPushNodePort"
	OutputRegistryConfigDigest = "registryConfigDigest"
	OutputRegistryCA           = "registryCA"
	OutputObjectStoreEndpoint  = "objectStoreEndpoint"
	OutputObjectStoreBucket    = "objectStoreBucket"
	OutputTalosVersion         = "talosVersion"
	OutputImageDigests         = "imageDigests"
	OutputImageBytesSent       = "imageBytesSent"
	// OutputPreviousImages are the previous versions kept for a rollback, newest first
	// (repository:tag@digest): setting an image back to one of them sends no blob.
	OutputPreviousImages = "previousImages"
	// OutputRegistryUsage is what the site registry's store holds and how much of it is free,
	// as the last up measured it (package capacity's Usage; absent when no image is copied).
	OutputRegistryUsage = "registryUsage"
	// OutputMirrorPatch is the nodes' full mirror patch (secret: the CA and the pull
	// credentials, known once they are generated and the registry is Ready; never the
	// bootstrap endpoint).
	OutputMirrorPatch = "talosMirrorPatch"
	// OutputBootstrapPatch is the same mirrors without credentials and with the bootstrap
	// endpoint while it is configured (known at plan time, for the policy pack's checks and
	// the first visit).
	OutputBootstrapPatch = "talosBootstrapPatch"
	// OutputImagePinPatch keeps the registry's own images on the nodes through kubelet's
	// image GC (containerd's CRI pinned_images; "" for Talos v1.7, which cannot).
	OutputImagePinPatch = "talosImagePinPatch"
)

// The app.kubernetes.io labels of every Kubernetes object the site declares.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelPartOf    = "app.kubernetes.io/part-of"
	LabelManagedBy = "app.kubernetes.io/managed-by"

	// PartOf and ManagedBy are the values of LabelPartOf and LabelManagedBy.
	PartOf    = Project
	ManagedBy = "pulumi"
	// RegistryName is the registry's LabelName; its node-facing (pull) endpoint's
	// LabelComponent is RegistryComponent.
	RegistryName      = "registry"
	RegistryComponent = "registry"
)

// The registry's push endpoint and config file, as the program deploys them: registrygc
// scales that Deployment and runs garbage-collect from its pod template, outside the program.
const (
	// RegistryPushName names the push endpoint's Deployment and Service, and is its
	// LabelComponent.
	RegistryPushName = "registry-push"
	// RegistryConfigDir is where the registry pods mount config.yml (RegistryConfigFile).
	RegistryConfigDir  = "/etc/distribution"
	RegistryConfigFile = "config.yml"
)

// Type tokens of pulumi-talos.
const (
	TalosSecrets            = "talos:machine/secrets:Secrets"
	TalosConfigurationApply = "talos:machine/configurationApply:ConfigurationApply"
	TalosBootstrap          = "talos:machine/bootstrap:Bootstrap"
	TalosKubeconfig         = "talos:cluster/kubeconfig:Kubeconfig"
	TalosGetConfiguration   = "talos:machine/getConfiguration:getConfiguration"
)
