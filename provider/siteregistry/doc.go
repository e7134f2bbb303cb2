// Package siteregistry reaches a registry the way a factory needs: through every endpoint it
// has, in order, and never for longer than it can make progress.
//
//   - Endpoints.Do runs an operation against the first endpoint and fails over to the next when
//     one does not answer or answers that it cannot serve now; when all have failed it waits
//     (exponential backoff) and tries them again until Policy.For has passed, long enough to
//     ride out a registry pod restart. Health remembers failed endpoints for the whole process,
//     so later operations start with one that works.
//   - Transport bounds every request by progress, not by total time: dial, TLS handshake,
//     waiting for a response and moving a body each fail once no byte has moved for the idle
//     timeout, with an error naming the endpoint. A multi-gigabyte blob streams for as long as
//     it moves; a registry that accepts connections and never answers fails in seconds.
//   - Retryable is the one classification of errors both use.
//
// go-containerregistry's own retries are turned off (NoRetries): they sleep without watching
// the context, and nested under Do they would multiply the waits.
package siteregistry
