package contract

// ImageToken is the type token of Image.
const ImageToken = Name + ":index:Image"

// Image copies one image from the provider's bundle (or a registry) into the site registry.
var Image = define[ImageArgs, ImageOutputs](ImageToken,
	"An image copied from an offline bundle into the site registry, diffed by digest.")

// ImageArgs are the inputs of Image: only what is the image's own. Where it is copied to, how
// the registry is reached and which bundle and keys it comes from are the provider's
// (Provider); the repositories it may mount shared blobs from are derived by the provider from
// the bundle, so adding an image to a site changes no other image.
//
// The image's identity is the site registry's repository and tag.
type ImageArgs struct {
	SourceRef    string `prop:"sourceRef" doc:"The image's original reference, as recorded in the provider's bundle."`
	SourceRemote string `prop:"sourceRemote" doc:"A registry reference to copy from instead of the bundle (reached over https only)."`
	Repository   string `prop:"repository,required,replace" doc:"Target repository, by the mirror scheme <upstream>/<path>."`
	Tag          string `prop:"tag,required,replace" doc:"Target tag."`
	Retain       bool   `prop:"retain" doc:"Keep the tag when the resource is deleted."`
}

// Defaults of the provider settings the provider reads 0 as.
const (
	DefaultJobs                  = 4
	DefaultRetrySeconds          = 90
	DefaultRequestTimeoutSeconds = 60
)

// LegacyRegistry is the single-registry input of provider 0.1, replace-on-change, which the
// endpoints replaced.
const LegacyRegistry = "registry"

// LegacyImageInputs are the inputs an Image had up to provider 0.4, which are now the
// provider's (or derived, like mountFrom). A state written then still reads, diffs and
// deletes: its image inputs are read as today's and these are ignored, so the first up after
// the upgrade neither replaces nor updates the image; a refresh drops them from the state.
var LegacyImageInputs = []string{
	LegacyRegistry, "sourceLayout", "endpoints", "insecure", "ca", "username", "password", "mountFrom",
	"jobs", "retryFor", "requestTimeout", "trustedKeys", "allowUnsigned",
}

// ImageOutputs are what a copy adds to the inputs in the state.
type ImageOutputs struct {
	Digest     string             `prop:"digest,required" doc:"Digest of the image in the registry."`
	MediaType  string             `prop:"mediaType" doc:"Media type of the top-level manifest."`
	Platforms  []string           `prop:"platforms" doc:"Platforms of the image (os/arch[/variant]), one per image of an index."`
	TotalBytes float64            `prop:"totalBytes" doc:"Size of all unique blobs and manifests."`
	SentBytes  float64            `prop:"sentBytes" doc:"Bytes sent by the last create or update: the size of each blob sent in full and each manifest put, once, however many tries or resends it took; blobs already there or mounted count nothing."`
	Inventory  map[string]float64 `prop:"inventory" doc:"What the image holds in the site registry: the digest and size of each of its manifests and blobs (and those of the signatures and attestations copied beside it). The office reads the site's inventory from the stack's state, offline."`
	Ref        string             `prop:"ref" doc:"The target reference, at the endpoint that served the last operation."`
	Endpoint   string             `prop:"endpoint" doc:"The endpoint that served the last create, update or refresh."`
	SyncedAt   string             `prop:"syncedAt" doc:"When the last create or update verified the image in the registry (RFC 3339, UTC)."`
}
