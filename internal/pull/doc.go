// Package pull pulls the images an images file lists (ParseList) from their registries into a
// bundle (package airgap-site/bundle): at the office, online, before the visit.
//
// A Puller keeps multi-arch indexes as they are (same digest as upstream) unless platforms
// are chosen, refuses single-platform images of another platform, reaches the registries
// named insecure over plain http or unverified TLS and no other over plain http (nodowngrade),
// and counts the layer bytes it reads for progress reporting.
package pull
