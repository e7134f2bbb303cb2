package contract

// ImageToken is the type token of Image.
const ImageToken = Name + ":index:Image"

// Image copies one image from an offline bundle (or a registry) into the site registry.
var Image = define[ImageArgs, ImageOutputs](ImageToken,
	"An image copied from an offline bundle into the site registry, diffed by digest.")

// ImageArgs are the inputs of Image. Either SourceLayout and SourceRef (a bundle) or
// SourceRemote (a registry) name the source.
//
// The image's identity is the site registry's repository and tag, not the address it is
// reached at: Endpoints is not replace-on-change, so a new node order or push address is an
// in-place update that re-verifies the image and never deletes it.
type ImageArgs struct {
	SourceLayout   string   `prop:"sourceLayout" doc:"Bundle directory (the OCI layout written by airgap bundle)."`
	SourceRef      string   `prop:"sourceRef" doc:"The image's original reference, as recorded in the bundle."`
	SourceRemote   string   `prop:"sourceRemote" doc:"A registry reference to copy from instead of a bundle."`
	Endpoints      []string `prop:"endpoints,required" doc:"The site registry's endpoints (host:port), in order of preference, all reaching the same registry: every operation fails over to the next one. A change is an in-place update."`
	Insecure       bool     `prop:"insecure" doc:"Plain http to the target registry."`
	CA             string   `prop:"ca" doc:"PEM CA of the target registry."`
	Username       string   `prop:"username" doc:"Target registry user."`
	Password       string   `prop:"password,secret" doc:"Target registry password."`
	Repository     string   `prop:"repository,required,replace" doc:"Target repository, by the mirror scheme <upstream>/<path>."`
	Tag            string   `prop:"tag,required,replace" doc:"Target tag."`
	MountFrom      []string `prop:"mountFrom" doc:"Sibling repositories of the site registry (e.g. docker.io/library/nginx) to mount shared blobs from."`
	Retain         bool     `prop:"retain" doc:"Keep the tag when the resource is deleted."`
	Jobs           int      `prop:"jobs" doc:"Parallel blob transfers (default 4)."`
	RetryFor       int      `prop:"retryFor" doc:"Seconds to keep retrying after a registry failure (refused, stalled, 5xx, 429), across every endpoint with exponential backoff (default 90: a registry pod restart)."`
	RequestTimeout int      `prop:"requestTimeout" doc:"Seconds a registry request may go without moving a byte before it fails and the next endpoint is tried (default 60)."`
	TrustedKeys    []string `prop:"trustedKeys" doc:"PEM public keys (cosign.pub): a bundle must carry a signature of one of them (bundle.json.sig) before anything is read from it."`
	AllowUnsigned  bool     `prop:"allowUnsigned" doc:"Accept a bundle without a signature (not recommended)."`
}

// Defaults of the inputs the provider reads 0 as.
const (
	DefaultJobs                  = 4
	DefaultRetrySeconds          = 90
	DefaultRequestTimeoutSeconds = 60
)

// LegacyRegistry is the single-registry input of provider 0.1, replace-on-change, which
// Endpoints replaced. A state written then still reads, diffs and deletes: its registry is
// read as endpoints: [registry], so the first up after the upgrade replaces nothing.
const LegacyRegistry = "registry"

// ImageOutputs are what a copy adds to the inputs in the state.
type ImageOutputs struct {
	Digest     string   `prop:"digest,required" doc:"Digest of the image in the registry."`
	MediaType  string   `prop:"mediaType" doc:"Media type of the top-level manifest."`
	Platforms  []string `prop:"platforms" doc:"Platforms of the image (os/arch[/variant]), one per image of an index."`
	TotalBytes float64  `prop:"totalBytes" doc:"Size of all unique blobs and manifests."`
	SentBytes  float64  `prop:"sentBytes" doc:"Bytes sent by the last create or update: the size of each blob sent in full and each manifest put, once, however many tries or resends it took; blobs already there or mounted count nothing."`
	Ref        string   `prop:"ref" doc:"The target reference, at the endpoint that served the last operation."`
	Endpoint   string   `prop:"endpoint" doc:"The endpoint that served the last create, update or refresh."`
	SyncedAt   string   `prop:"syncedAt" doc:"When the last create or update verified the image in the registry (RFC 3339, UTC)."`
}
