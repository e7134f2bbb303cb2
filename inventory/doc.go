// Package inventory reads, offline, what a site registry holds because of a stack: the
// manifests and blobs of its images, each digest with its size and the repositories of the site
// registry that hold it, from the stack's state (a `pulumi stack export`) alone, with no access
// to the site. The office makes a delta bundle against it (airgap bundle --against).
//
// Every airgap:index:Image resource (contract.ImageToken) of the state records, from provider
// 0.5.0 on, the output `inventory` (digest -> size of every manifest and blob the image holds in
// the site registry: config, layers, the children of an index, attached signatures) beside its
// `repository`, `tag` and `digest` (what the tag names, Image.Digest). A state written by an
// older provider has none: such an image contributes nothing and is listed by Without, so that
// whoever makes a delta can say everything of it will travel. An image the state
// marks for deletion contributes nothing either: its tag is gone or going, and a garbage
// collection may take its blobs.
//
// From provider 0.8.0 the RegistryUsage resource (contract.RegistryUsageToken) also records
// what its last measure found each repository links (output `held`, repository@digest ->
// size): the versions kept for a rollback, and an image a new tag has replaced in the config
// but not yet in the state. Those blobs count as held too (Measured); they are no image.
//
// The package is a leaf: it imports go-containerregistry's v1 (digests), the standard library and
// airgap-site/provider/contract (itself a leaf) only.
package inventory
