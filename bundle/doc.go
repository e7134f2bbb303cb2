// Package bundle reads and writes image bundles: the offline form in which a site's images
// travel from the office to an air-gapped factory.
//
// A bundle is an OCI image layout (oci-layout, index.json, blobs/sha256/...) plus a
// bundle.json manifest. Each top-level entry of index.json is one image, a single manifest
// or a multi-arch index kept byte for byte so digests never change, annotated with
// RefAnnotation = the image's normalized original reference (see mirror.Normalize). Blobs
// shared by several images are stored once.
//
// Writer builds a bundle (Create, AddImage/AddIndex, Close). Open reads one back: Lookup,
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
// link leads out of it. Layers are streamed as they are: a copy checks each against its digest
// as it streams it (airgap-site/provider/imagesync), containerd checks what it pulls.
//
// The package is a leaf: it imports go-containerregistry, the standard library and
// airgap-site/mirror only.
package bundle
