// Package registrygc collects the garbage of a site registry without stopping the line.
//
// distribution's `registry garbage-collect` is a mark and sweep over the bucket: it marks every
// blob a manifest references, then deletes every blob it did not mark. A blob uploaded but not
// yet referenced by a manifest (a push in flight) is swept, so it must run with no writer.
// Collect therefore:
//
//  1. records the push Deployment's replicas in the annotation AnnotationRestoreReplicas, then
//     scales it to 0 and waits until none of its pods is left, terminating ones included (their
//     preStop pause still serves): no write can be in flight;
//  2. runs garbage-collect --delete-untagged as a Job made from the push Deployment's live pod
//     template, so it reads the bucket with exactly the push endpoint's config, S3 identity,
//     image and hardened security context, under labels no Service or PodDisruptionBudget of
//     the registry selects;
//  3. parses the summary line garbage-collect prints, deletes the Job and, whatever happened
//     before (failure, timeout, cancel), scales the push Deployment back, removes the
//     annotation and waits until it is Ready again.
//
// The read-only pull endpoints keep serving the nodes throughout and need no restart: their
// config has no blob descriptor cache (components/registry.Storage), so none of them can answer
// for a blob the sweep deleted. A push during the collection finds no push endpoint
// (connection refused) until it is back.
//
// There is no journal. The sweep only ever deletes blobs no manifest references, so an
// interrupted collection is finished by running it again; the annotation tells that next run
// how many replicas to restore (Result.Resumed).
package registrygc
