// Package siteconfig is the typed configuration of one factory site (one Pulumi stack).
//
// Load reads the stack config from a Source (the Pulumi context, or a MapSource in tests and
// tools), decodes each key strictly over the defaults of New, and runs Validate, all before
// any resource is declared: a typo in stacks/Pulumi.<site>.yaml fails with every problem at
// once, each naming its field (nodes[1].ip), instead of a half-applied site. Each subject keeps
// its types and its validation together: nodes.go, registry.go, objectstore.go, talos.go,
// images.go (link.go: the link's rate; trust.go: the trusted keys), secret.go. The mirror scheme comes from package mirror and the Talos patch rules
// from package talosconfig; this package only applies them to the stack's fields.
//
// Secrets are separate top-level keys that must be stored encrypted (`pulumi config set
// --secret`); they are held as Secret values that never print.
package siteconfig
