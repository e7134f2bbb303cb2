// Package contract is the wire contract of the airgap provider: its package name, its plugin
// version and, for each resource, the type token and the properties (name, type, required,
// secret, description).
//
// The provider and its Pulumi binding are built separately and talk only through property
// names, so a name spelled differently on one side is silently dropped, not an error. Here
// each resource is declared once, as two plain structs; the provider's schema and input
// decoding are derived from them, and tests hold the hand-written binding to them.
//
// Another resource is one more pair of structs, its token, a define call and an entry in
// Resources; the schema, decoding and test helpers need no change.
//
// The package is a leaf: it imports nothing from this repository and no SDK, so anything
// (the provider, the program, the fleet view, policies) can import it.
package contract
