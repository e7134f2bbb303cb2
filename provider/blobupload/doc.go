// Package blobupload pushes one blob to an OCI registry in chunks ("push a blob in chunks" of
// the distribution spec), so that a dropped link costs at most one chunk and a capped rate
// leaves the rest of the link to the factory's own traffic.
//
// Upload HEADs the blob first (nothing to do when it is there), then POSTs an upload session
// and PATCHes the blob in chunks (Options.ChunkSize, 10 MiB by default: at least 5 MiB, the
// smallest part the registry's S3 driver appends without re-copying the upload; a tail under
// that goes with the last chunk, as a PATCH of its own would cost the registry a whole resume
// of the upload for a few bytes). After a cut (a
// reset connection, a stall, a 5xx) it GETs the session's upload URL, which answers with the
// offset the registry holds, and goes on from there with the Location of that answer; it
// retries with backoff until Options.Retry.For has passed without progress
// (siteregistry.Endpoints, siteregistry.Retryable). The PUT with the blob's digest ends the
// upload, and a HEAD checks the blob is there: the registry hashes what it holds, so a blob
// whose bytes do not match its digest fails with ErrDigestMismatch. A resumed session that
// fails its digest is sent once more, whole, in a new session first: the registry has no
// per-upload lock, and a stalled request of the old connection may still write after the
// resume.
//
// Sessions keeps each upload's Location in a small file (0600) under a directory the caller
// gives (beside the stack's state), so an upload survives a failed process: the next Upload
// of the same blob to the same repository resumes it. A session the registry no longer knows
// (404: purged, or the PUT went through) is HEADed, then started again. The files hold no
// credential: the Location is the registry's own signed session state.
//
// Options.Limiter, a token bucket shared by every upload of the process (NewLimiter), is
// charged with every PATCH body byte as the transport reads it, so the total rate of all
// concurrent uploads holds the cap.
//
// Requests go through go-containerregistry's authenticated transport (a push scope for the
// repository) on top of internal/nodowngrade: no plain http unless Options.PlainHTTP names the
// registry. A Location on another host is refused: the blob is only ever sent to the registry.
package blobupload
