// Package serve serves an image bundle read-only as an OCI distribution registry, under the
// Talos mirror scheme, so a laptop at the site can be the last endpoint of every mirror while
// the site registry does not exist yet.
//
// Verify checks a bundle as the provider does (signature of a trusted key, every manifest and
// blob) before anything is served; BootstrapTLS keeps the bootstrap CA and the serving
// certificate the nodes trust through the bootstrap patch; New returns an http.Handler that
// answers GET and HEAD only, as go-containerregistry's pkg/registry does. `airgap serve` only
// listens and shuts down. Everything the handler knows about the bundle goes through package
// airgap-site/bundle, and every request path through package airgap-site/mirror.
package serve
