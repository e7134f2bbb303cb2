// Package bundle reads and writes image bundles: the offline form in which a site's images
// travel from the office to an air-gapped factory.
//
// A bundle is an OCI image layout (oci-layout, index.json, blobs/sha256/...) plus a
// bundle.json manifest. Each top-level entry of index.json is one image, a single manifest
// or a multi-arch index kept byte for byte so digests never change, annotated with
// RefAnnotation = the image's normalized original reference (see Normalize). Blobs shared
// by several images are stored once.
//
// Writer builds a bundle (Create, AddImage/AddIndex, Close); Open reads one back and looks
// images up by their original reference.
package bundle
