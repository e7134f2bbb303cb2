// Package imagesync copies one image or multi-arch index into a repository of a registry,
// sending as few bytes as it can: blobs the repository already has are skipped, blobs that
// another repository of the same registry holds are mounted (cross-repository blob mount)
// instead of uploaded, and the rest are uploaded in parallel. Every uploaded blob is verified
// against its digest while it streams, so a corrupt source fails loudly (CorruptError, which no
// retry repeats).
//
// A copy is one try at one endpoint: its first failure cancels the transfers under way, and
// the caller retries the whole copy (siteregistry.Endpoints), which skips what is stored.
// DeleteTag removes one tag and never another.
//
// CopyAttached copies, after an image, what its bundle carries beside it (BundleAttachments:
// cosign signatures and attestations, OCI referrers) into the same repository: under cosign's
// tags, and by digest for referrers, so `cosign verify` and the registry's Referrers API find
// them. Nothing deletes them: they stay when their image's tag goes, as with retain.
//
// CheckAssumed runs before the copy of an image from a delta bundle: every blob the bundle
// assumes the site holds (bundle.Bundle.Assumed) must be in the image's repository or is mounted
// there from one that holds it; one found nowhere fails the image (ErrAssumedMissing, naming the
// blob, the image and the fix: a full bundle) before any byte of it is pushed. It never uploads.
package imagesync
