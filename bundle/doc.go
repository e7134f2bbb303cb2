// Package bundle reads and writes image bundles: the offline form in which a site's images
// travel from the office to an air-gapped factory.
//
// A bundle is an OCI image layout (oci-layout, index.json, blobs/sha256/...) plus a
// bundle.json manifest. Each top-level entry of index.json is one image, a single manifest
// or a multi-arch index kept byte for byte so digests never change, annotated with
// RefAnnotation = the image's normalized original reference (see mirror.Normalize). Blobs
// shared by several images are stored once.
//
// What a registry keeps beside an image about it travels as entries of their own, named from
// the image's repository and digest (AttachedRef), so bundle.json lists them and its signature
// covers them like any image:
//
//	<repo>:sha256-<hex>.sig  cosign's signature image, byte for byte (cosign's own tag)
//	<repo>:sha256-<hex>.att  cosign's attestation image, byte for byte (cosign's own tag)
//	<repo>:sha256-<hex>.ref  an index listing the image's OCI 1.1 referrers (the manifests whose
//	                         subject it is), each byte for byte; the index is the bundle's own
//
// where <repo> is the image's normalized repository and sha256:<hex> its top-level digest (an
// index's, for a multi-arch image). Attached lists them. The suffix is always there: a bare
// sha256-<hex> tag is the mirror scheme's tag of a digest reference and the OCI referrers
// fallback tag. An artifact is stored after its image, and a bundle added to keeps those of
// an image's earlier digests (nothing reads them: lookups go by the current digest). The airgap provider pushes them beside their
// image (airgap-site/provider/imagesync.CopyAttached).
//
// bundle.json also carries a Stamp: a sequence that rises with every bundle the office makes,
// when it was made and, optionally, until when and for which sites it is good. Stamp.Accept is
// the one home of the rules a site applies to it (no lower sequence than it accepted before,
// not expired, made for it).
//
// A delta bundle (airgap bundle --against a stack) leaves out the layers the site registry
// holds already: Writer.AssumePresent names them, bundle.json lists each it left out under
// assumes (digest, size, a repository at the site holding it), so the signature covers the
// assumption. Every manifest and config is always carried. CheckBlobs lets a layer be missing
// only when bundle.json assumes it, with the manifest's size, and still checks one that is
// carried; Assumed lists an image's assumed layers, which a copy finds or mounts at the site
// (airgap-site/provider/imagesync.CheckAssumed) and never reads from the bundle.
//
// Writer builds a bundle (Create, AddImage/AddIndex, SetStamp, Close) and signs it (Sign) only
// when the directory holds nothing but what it wrote. OpenVerified checks the signature and
// opens the bundle from the very bytes it verified, once per content in a process; Open reads
// one without verifying: Lookup,
// Image and Index find images by their original reference; Manifests, Manifest and Blob read
// its content by digest, which is all a registry serving the bundle needs (package
// airgap-site/bundle/serve). Only this package knows where things are on disk.
//
// A bundle travels through hands the site cannot vouch for, so reading one trusts nothing in
// it: every manifest is read by one function (readNode) that bounds it to 4 MiB and checks it
// against its descriptor's digest and size, at lookup and again when it is read; a digest
// reference must be listed with its own digest; indexes nest at most 4 deep and never list
// themselves (below); index.json and bundle.json are bounded too; only sha256 digests of 64
// lower-case hex name files, opened inside the bundle directory (os.OpenInRoot) so no name or
// link leads out of it, and without blocking: a FIFO, device or socket is refused at once. Layers are streamed as they are: a copy checks each against its digest
// as it streams it (airgap-site/provider/imagesync), containerd checks what it pulls.
//
// The package is a leaf: it imports go-containerregistry, the standard library,
// airgap-site/mirror and airgap-site/signing (itself a leaf) only.
package bundle
