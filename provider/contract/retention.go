package contract

// Tokens of the resources that keep the site registry bounded.
const (
	RetentionToken         = Name + ":index:Retention"
	GarbageCollectionToken = Name + ":index:GarbageCollection"
)

// Retention keeps the previous versions of the site's images for a rollback and deletes
// those beyond the window (package provider/retention says how). It takes the site's image
// set as it is after the Images: adding an image alone changes nothing it keeps, so its Diff
// reports no change.
var Retention = define[RetentionArgs, RetentionOutputs](RetentionToken,
	"The previous versions of the site's images kept for a rollback; older ones are deleted from the site registry.")

// RetentionArgs are the inputs of Retention.
type RetentionArgs struct {
	KeepPrevious int               `prop:"keepPrevious" doc:"Previous versions kept per repository (images.keepPrevious; 0 keeps none)."`
	Images       map[string]string `prop:"images,required" doc:"The site's images now: repository:tag to the digest the site registry holds."`
}

// RetentionOutputs are the versions kept and what was deleted.
type RetentionOutputs struct {
	Previous        []string `prop:"previous" doc:"The previous versions kept, newest first, as repository:tag@digest: each is a rollback that sends no blob."`
	DeletedVersions int      `prop:"deletedVersions" doc:"How many previous versions the resource has deleted from the registry, in all; a garbage collection follows every increase."`
}

// GarbageCollection runs distribution's garbage-collect --delete-untagged in the site's
// cluster, with the push endpoint scaled to zero (package registrygc), whenever after
// increases: after an up that deleted versions.
var GarbageCollection = define[GarbageCollectionArgs, GarbageCollectionOutputs](GarbageCollectionToken,
	"Collects the blobs no kept image references, in the site's cluster, after an up that deleted versions.")

// GarbageCollectionArgs are the inputs of GarbageCollection.
type GarbageCollectionArgs struct {
	Kubeconfig     string `prop:"kubeconfig,required,secret" doc:"Kubeconfig of the site's cluster (contents)."`
	Context        string `prop:"context" doc:"Context of the kubeconfig (default: its current one)."`
	Namespace      string `prop:"namespace,required" doc:"The registry's namespace."`
	After          int    `prop:"after" doc:"A collection runs whenever this increases (Retention's deletedVersions)."`
	TimeoutSeconds int    `prop:"timeoutSeconds" doc:"Seconds a collection may take, the push endpoint's scale-down and return included (default 600)."`
}

// GarbageCollectionOutputs are the figures of the last collection.
type GarbageCollectionOutputs struct {
	CollectedAt      string  `prop:"collectedAt" doc:"When the last collection ended (RFC 3339, UTC); empty before the first."`
	BlobsDeleted     int     `prop:"blobsDeleted" doc:"Blobs the last collection deleted."`
	ManifestsDeleted int     `prop:"manifestsDeleted" doc:"Untagged manifests the last collection deleted."`
	DurationSeconds  float64 `prop:"durationSeconds" doc:"How long the last collection took, the push endpoint's return included."`
}
