// Package mirror is the mirror scheme of a site: how an image's original reference maps onto
// the site registry, and which registry names Talos can key a mirror by.
//
// Every upstream registry (docker.io, ghcr.io, an ECR host, registry.local:5443) is a Talos
// mirror keyed by its host[:port], never a URL. Its images live in the site registry under
// <upstream>/<path>, so docker.io/clickhouse/clickhouse-server:24.8 is stored as the repository
// docker.io/clickhouse/clickhouse-server with the tag 24.8, and pods keep their original
// references: containerd asks the mirror endpoint http(s)://<node>:<nodePort>/v2/<upstream>.
//
// A port cannot appear in a repository name, so an upstream host:port is written host_port in
// the repository (registry.local:5443/factory/mes:7 is stored as registry.local_5443/factory/mes
// :7). Registry hosts never contain '_', so the mapping reads back unambiguously (Reference).
//
// The package is a leaf: it imports only go-containerregistry's name package. The bundle, the
// site config, the images component, the policy pack and the bundle server all use it.
package mirror
