package contract

// AcceptedBundleToken is the type token of AcceptedBundle.
const AcceptedBundleToken = Name + ":index:AcceptedBundle"

// AcceptedBundle is the one place a stack keeps which bundles it accepted: its state holds the
// highest bundle sequence (bundle.json's, under a trusted signature) any up accepted. Every
// Image of the bundle depends on it, so a bundle older than that one (a rollback, however
// validly signed) is refused at preview and at up before any image is copied, unless
// allowDowngrade is set for that up.
var AcceptedBundle = define[AcceptedBundleArgs, AcceptedBundleOutputs](AcceptedBundleToken,
	"The bundle the site accepted: its sequence is never lower than the highest one accepted before (no rollback), it has not expired and is made for this site.")

// AcceptedBundleArgs are the inputs of AcceptedBundle. None replaces it: a replacement would
// forget the highest sequence.
type AcceptedBundleArgs struct {
	SourceLayout   string   `prop:"sourceLayout,required" doc:"Bundle directory (the OCI layout written by airgap bundle)."`
	TrustedKeys    []string `prop:"trustedKeys" doc:"PEM public keys (cosign.pub): the bundle must carry a signature of one of them (bundle.json.sig)."`
	AllowUnsigned  bool     `prop:"allowUnsigned" doc:"Accept a bundle without a signature (not recommended): its sequence is then whatever bundle.json says."`
	AllowDowngrade bool     `prop:"allowDowngrade" doc:"Accept a bundle whose sequence is lower than the highest accepted before (a rollback), with a warning. The highest stays recorded."`
	Site           string   `prop:"site" doc:"The site's name: a bundle that lists its sites must list it."`
	Images         []string `prop:"images" doc:"The references the stack takes from the bundle: each must be in it, every byte of it (and of what is attached to it) verified, at every preview, also a new site's first, whose registry settings are not known yet. Checked, not compared: adding an image changes nothing here."`
}

// AcceptedBundleOutputs are what the provider records of the accepted bundle.
type AcceptedBundleOutputs struct {
	Sequence        int    `prop:"sequence,required" doc:"The sequence of the bundle the last up accepted (0: a bundle written before sequences)."`
	HighestSequence int    `prop:"highestSequence,required" doc:"The highest sequence any up accepted: a bundle below it is refused unless allowDowngrade is set."`
	CreatedAt       string `prop:"createdAt" doc:"When the accepted bundle was made (bundle.json createdAt, RFC 3339)."`
	Manifest        string `prop:"manifest" doc:"The digest of the accepted bundle's bundle.json."`
	SignedBy        string `prop:"signedBy" doc:"The ID of the key that signed the accepted bundle; empty for an unsigned one."`
}
