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
// The package is a leaf: it imports go-containerregistry, the standard library and
// airgap-site/mirror only.
package bundle
