// Package talos applies the Talos side of a site through Pulumi: the mirror patch that
// talosconfig renders from the site config (talosconfig.Build, talosconfig.Render) is exported
// as a stack output and, with talos.manage, applied with the machine configuration and the
// user's patches to each node through pulumi-talos' resource tokens (bindings.go), whose Go SDK
// is not available here. The mirror model, its renderers and the patch rules live in
// talosconfig; this package holds only the wiring and the bindings.
package talos
