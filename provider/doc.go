// Package provider is the `airgap` Pulumi resource provider (binary pulumi-resource-airgap):
// airgap:index:Image copies one image from an offline bundle (an OCI layout written by
// `airgap bundle`) or a registry into the site registry, and the engine diffs it by digest,
// read offline from the bundle. Copies send only the blobs the site registry lacks
// (package imagesync); refresh reports a deleted or moved tag as drift.
//
// The package's name, version, tokens and property names are declared once, in package
// contract; the schema and the decoding of inputs are derived from it.
package provider
