package contract

// RegistryUsageToken is the type token of RegistryUsage.
const RegistryUsageToken = Name + ":index:RegistryUsage"

// RegistryUsage measures what the site registry's store holds after an up: the bytes the
// stack's images and the kept versions reference (read from the registry), everything under
// the registry's root directory in the bucket (listed over S3 with a read-only identity,
// where the machine running pulumi reaches the store) and the free space where the store's
// capacity is known (package capacity says how). Any change of its inputs measures again, as
// does a refresh.
var RegistryUsage = define[RegistryUsageArgs, RegistryUsageOutputs](RegistryUsageToken,
	"What the site registry's store holds and how much of it is free, measured after every up that changed it.")

// RegistryUsageArgs are the inputs of RegistryUsage.
type RegistryUsageArgs struct {
	Images        map[string]string `prop:"images,required" doc:"The site's images: repository:tag to the digest the site registry holds."`
	Previous      []string          `prop:"previous" doc:"The versions kept for a rollback, as repository:tag@digest (Retention's previous)."`
	After         string            `prop:"after" doc:"The last garbage collection's collectedAt: a measure follows every collection."`
	CapacityBytes int               `prop:"capacityBytes" doc:"The store's usable size in bytes (0: unknown)."`
	StoreEndpoint string            `prop:"storeEndpoint" doc:"The store's S3 URL as the machine running pulumi reaches it; empty: the bucket is not listed."`
	StoreBucket   string            `prop:"storeBucket" doc:"The registry's bucket."`
	StoreRegion   string            `prop:"storeRegion" doc:"The bucket's region."`
	StorePrefix   string            `prop:"storePrefix" doc:"The registry's root directory in the bucket."`
	AccessKey     string            `prop:"accessKey,secret" doc:"A read-only S3 identity of the bucket (the pull endpoints')."`
	SecretKey     string            `prop:"secretKey,secret" doc:"Its secret key."`
}

// RegistryUsageOutputs are the figures (package capacity's Usage).
type RegistryUsageOutputs struct {
	ReferencedBytes int                `prop:"referencedBytes" doc:"Bytes of the manifests and blobs the images and the kept versions reference (their signatures and attestations included), each once."`
	TotalBytes      int                `prop:"totalBytes" doc:"Bytes under the registry's root directory in the bucket; -1 when not listed (unmeasured says why)."`
	FreeBytes       int                `prop:"freeBytes" doc:"capacityBytes less totalBytes (less referencedBytes when the bucket was not listed); -1 without a capacity."`
	MeasuredAt      string             `prop:"measuredAt" doc:"When the figures were measured (RFC 3339, UTC)."`
	Unmeasured      string             `prop:"unmeasured" doc:"Why totalBytes is -1; empty when it is not."`
	Held            map[string]float64 `prop:"held" doc:"What the measure found referenced, by repository@digest: the size of each manifest and blob each repository links (the kept versions' included). A preview says what the next up sends from it and the images' inventories, so a version replaced by a new tag still counts as held."`
}
