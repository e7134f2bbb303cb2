// Package pki generates the secrets an air-gapped site needs and cannot fetch: a CA, serving
// certificates it signs, random passwords and their htpasswd lines.
//
// The site has no ACME, no Vault and no pulumi-tls or pulumi-random, so the airgap provider
// makes these itself, through this package, and keeps them (encrypted) in the stack's state.
// Everything here is pure: the clock is passed in, nothing is read from or written to disk,
// and only the standard library's crypto and golang.org/x/crypto/bcrypt are used.
//
// Keys are ECDSA P-256, written as PKCS#8 ("PRIVATE KEY"): what containerd, the Docker
// registry, Talos and every TLS stack of the site accept, and small enough to travel in
// machine-config patches.
package pki
