// Package siteconfig is the typed configuration of one factory site (one Pulumi stack).
//
// Stack config is read in one place (Load), completed with defaults (Default) and checked
// (Validate) before any resource is declared, so a typo in stacks/Pulumi.<site>.yaml fails with
// an error that names the field instead of a half-applied site. Secrets are separate top-level
// keys that must be stored encrypted (`pulumi config set --secret`); they are held as Secret
// values that never print.
package siteconfig
