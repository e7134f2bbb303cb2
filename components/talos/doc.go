// Package talos renders and applies the Talos side of a site: the registry mirrors that send
// containerd on every node to the site registry, so pods keep their original image
// references and nothing is pulled from the internet.
//
// BuildMirrors turns the site config into a Mirrors model: one mirror per upstream registry
// (keyed by host[:port], never a URL) whose endpoints are every node's registry NodePort with
// the path /v2/<upstream> (overridePath, skipFallback), the site registry's own host:port as
// keys too, and an optional bootstrap endpoint last. Render writes the model for a Talos
// version: a machine.registries patch up to v1.11, RegistryMirrorConfig / RegistryTLSConfig /
// RegistryAuthConfig documents from v1.12. New applies it to each node through pulumi-talos'
// resource tokens (bindings.go), whose Go SDK is not available here.
package talos
