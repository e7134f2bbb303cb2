// Package talosconfig is the Talos side of the mirror scheme as typed documents: the mirror
// model of a site, its renderers for both config generations, the reader of a rendered patch,
// and the patch rules.
//
// Build turns a Spec (upstreams, node registry endpoints, scheme, TLS and credentials, the
// bootstrap endpoint) into Mirrors: one mirror per upstream, keyed by host[:port] (never a
// URL), whose endpoints are every node's registry NodePort with the path mirror.EndpointPath
// (overridePath, skipFallback), the node endpoints as keys too, and the bootstrap endpoint
// last. Render writes them for a Talos version (the version table is here): a
// machine.registries patch up to v1.11, RegistryMirrorConfig / RegistryTLSConfig /
// RegistryAuthConfig documents from v1.12. Parse reads a rendered patch back.
//
// PinPatch renders what keeps the images a site needs to start its registry on every node
// through kubelet's image garbage collection (containerd 2's CRI pinned_images, in the CRI
// customization part Talos v1.8 to v1.13 take; none for v1.7): see pin.go.
//
// Check holds every patch rule once (URL keys, endpoints without a scheme, TLS blocks on
// plain-http hosts, duplicate or managed mirrors); the site config's validation and the policy
// pack both call it. The package is a leaf: it imports mirror and sigs.k8s.io/yaml only.
package talosconfig
