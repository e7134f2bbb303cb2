package contract

// ProviderToken is the type token of an explicit airgap provider: the resource whose inputs
// are the provider's configuration.
const ProviderToken = "pulumi:providers:" + Name

// Provider is the provider's configuration: the site registry an Image is copied to, how it is
// reached, and the bundle and trust its images come from. These are the site's, not any
// image's, so they are set once, on an explicit provider every Image of the site uses (the way
// pulumi-kubernetes takes its kubeconfig): rotating the push password or adding a trusted key
// changes the provider, not the images, and the password is kept once in the state.
//
// A change of any of them is an update of the provider, never a replacement: a replacement
// would replace every image that uses it.
var Provider = define[ProviderArgs, struct{}](ProviderToken,
	"The site registry every Image of the provider is copied to, and the bundle and trust the images come from.")

// ProviderArgs are the provider's configuration.
type ProviderArgs struct {
	Endpoints      []string `prop:"endpoints" doc:"The site registry's endpoints (host:port), in order of preference, all reaching the same registry: every operation fails over to the next one."`
	Insecure       bool     `prop:"insecure" doc:"Plain http to the site registry (registry.plainHTTP); any other registry is reached over https only."`
	CA             string   `prop:"ca" doc:"PEM CA of the site registry."`
	Username       string   `prop:"username" doc:"The push identity's user."`
	Password       string   `prop:"password,secret" doc:"The push identity's password."`
	Bundle         string   `prop:"bundle" doc:"Bundle directory (the OCI layout written by airgap bundle) the images are copied from."`
	TrustedKeys    []string `prop:"trustedKeys" doc:"PEM public keys (cosign.pub): the bundle must carry a signature of one of them (bundle.json.sig) before anything is read from it."`
	AllowUnsigned  bool     `prop:"allowUnsigned" doc:"Accept a bundle without a signature (not recommended)."`
	Jobs           int      `prop:"jobs" doc:"Parallel blob transfers per image (default 4)."`
	RetryFor       int      `prop:"retryFor" doc:"Seconds to keep retrying after a registry failure (refused, stalled, 5xx, 429), across every endpoint with exponential backoff (default 90: a registry pod restart)."`
	RequestTimeout int      `prop:"requestTimeout" doc:"Seconds a registry request may go without moving a byte before it fails and the next endpoint is tried (default 60)."`
	// The link to the site (a throttled LTE router, shared with the factory's own traffic).
	LinkBytesPerSecond int    `prop:"linkBytesPerSecond" doc:"The link's rate in bytes per second (0: not known), for a preview to say how long the up's transfer takes."`
	MaxBytesPerSecond  int    `prop:"maxBytesPerSecond" doc:"Caps the total upload rate of all the copies of an up, in bytes per second (0: no cap), so the factory's own traffic keeps the rest of the link."`
	UploadSessions     string `prop:"uploadSessions" doc:"Directory (beside the stack's state) where uploads in flight are kept, so that the next up resumes a blob an interrupted one left, from the offset the registry holds."`
}
