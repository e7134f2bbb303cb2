// Package provider is the `airgap` Pulumi resource provider (binary pulumi-resource-airgap).
//
// Its configuration (contract.Provider, on an explicit provider resource, the way
// pulumi-kubernetes takes its kubeconfig) is the site's: the site registry's endpoints, how it
// is reached (CA, push identity, plain http), the bundle the images come from and the keys it
// must be signed by, the retry budget. airgap:index:Image keeps only what is its own (source
// reference, repository, tag, retain): rotating the push password or adding a trusted key is
// one change of the provider and none of the images, the password is kept once in the state,
// and adding an image to a site changes no other image. No setting replaces the provider
// (DiffConfig): that would replace every image.
//
// An Image copies one image from the provider's bundle (an OCI layout written by `airgap
// bundle`) or a registry into the site registry, and the engine diffs it by digest, read
// offline from the bundle. Copies send only the blobs the site registry lacks (package
// imagesync), mounting shared blobs from the repositories of the bundle's other images that
// hold them (derived here, not declared); each Image's state records its inventory, the digest
// and size of everything it holds in the registry. Refresh reports a deleted or moved tag as
// drift.
//
// The site registry is reached through every node's endpoint (package siteregistry): each
// operation fails over across them in order, retries a failing registry with backoff for
// retryFor seconds, fails a request that moves no byte for requestTimeout seconds, stops at the
// engine's customTimeouts deadline and at Cancel. Delete removes the tag only, never another
// tag of the repository, and keeps a tag that this update wrote for another resource or that
// someone else has moved. No request goes over plain http (internal/nodowngrade) unless the
// insecure setting (registry.plainHTTP) says the site registry is plain http: a failed https
// is never retried over http with the push password.
//
// airgap:index:AcceptedBundle keeps in the state the highest bundle sequence an up accepted
// (freshness.go): every Image depends on it, and its Diff refuses an older bundle (a rollback)
// at preview and up before any copy, unless allowDowngrade is set. It runs on the default
// provider, whose configuration is always known, so the bundle is verified at every preview
// even while the site provider's settings are not known yet (a new site's first preview: the
// engine then does not call that provider for its images). A bundle is opened verified
// (bundle.OpenVerified) once per process, so what is checked and what is copied are the same
// bytes.
//
// Every resource type is a kind (kind.go): the server decodes a request, dispatches it to the
// kind of its type and encodes the answer; Check failures, input diffs and responses are
// assembled in one place. The package's name, version, tokens and property names are declared
// once, in package contract; the schema and the decoding of inputs are derived from it.
package provider
