// Package provider is the `airgap` Pulumi resource provider (binary pulumi-resource-airgap):
// airgap:index:Image copies one image from an offline bundle (an OCI layout written by
// `airgap bundle`) or a registry into the site registry, and the engine diffs it by digest,
// read offline from the bundle. Copies send only the blobs the site registry lacks
// (package imagesync); refresh reports a deleted or moved tag as drift.
//
// The site registry is reached through every node's endpoint (package siteregistry): each
// operation fails over across them in order, retries a failing registry with backoff for
// retryFor seconds, fails a request that moves no byte for requestTimeout seconds, stops at the
// engine's customTimeouts deadline and at Cancel. The endpoints are not the image's identity:
// changing them is an in-place update. Delete removes the tag only, never another tag of the
// repository, and keeps a tag that this update wrote for another resource or that someone
// else has moved. No request goes over plain http (internal/nodowngrade) unless the image's
// insecure input (registry.plainHTTP) says the site registry is plain http: a failed https is
// never retried over http with the push password.
//
// airgap:index:AcceptedBundle keeps in the state the highest bundle sequence an up accepted
// (freshness.go): every Image depends on it, and its Diff refuses an older bundle (a rollback)
// at preview and up before any copy, unless allowDowngrade is set. Every read of a bundle goes
// through bundle.OpenVerified, so what is checked and what is copied are the same bytes, and
// the bundle is verified at every preview, even while other inputs are unknown.
//
// The package's name, version, tokens and property names are declared once, in package
// contract; the schema and the decoding of inputs are derived from it.
package provider
