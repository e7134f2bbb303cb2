package contract

// ImageToken is the type token of Image.
const ImageToken = Name + ":index:Image"

// Image copies one image from an offline bundle (or a registry) into the site registry.
var Image = define[ImageArgs, ImageOutputs](ImageToken,
	"An image copied from an offline bundle into the site registry, diffed by digest.")

// ImageArgs are the inputs of Image. Either SourceLayout and SourceRef (a bundle) or
// SourceRemote (a registry) name the source.
type ImageArgs struct {
	SourceLayout string   `prop:"sourceLayout" doc:"Bundle directory (the OCI layout written by airgap bundle)."`
	SourceRef    string   `prop:"sourceRef" doc:"The image's original reference, as recorded in the bundle."`
	SourceRemote string   `prop:"sourceRemote" doc:"A registry reference to copy from instead of a bundle."`
	Registry     string   `prop:"registry,required,replace" doc:"Target registry host:port."`
	Insecure     bool     `prop:"insecure" doc:"Plain http to the target registry."`
	CA           string   `prop:"ca" doc:"PEM CA of the target registry."`
	Username     string   `prop:"username" doc:"Target registry user."`
	Password     string   `prop:"password,secret" doc:"Target registry password."`
	Repository   string   `prop:"repository,required,replace" doc:"Target repository, by the mirror scheme <upstream>/<path>."`
	Tag          string   `prop:"tag,required,replace" doc:"Target tag."`
	MountFrom    []string `prop:"mountFrom" doc:"Sibling repositories to mount shared blobs from."`
	Retain       bool     `prop:"retain" doc:"Keep the tag when the resource is deleted."`
	Jobs         int      `prop:"jobs" doc:"Parallel blob transfers (default 4)."`
}

// ImageOutputs are what a copy adds to the inputs in the state.
type ImageOutputs struct {
	Digest     string   `prop:"digest,required" doc:"Digest of the image in the registry."`
	MediaType  string   `prop:"mediaType" doc:"Media type of the top-level manifest."`
	Platforms  []string `prop:"platforms" doc:"Platforms of the image (os/arch[/variant]), one per image of an index."`
	TotalBytes float64  `prop:"totalBytes" doc:"Size of all unique blobs and manifests."`
	SentBytes  float64  `prop:"sentBytes" doc:"Bytes sent by the last copy."`
	Ref        string   `prop:"ref" doc:"The target reference."`
}
