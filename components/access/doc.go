// Package access declares the site's generated access secrets: its CA, the serving
// certificates the CA signs, and passwords with their htpasswd lines. They are resources of
// the airgap provider (provider/, package pki), since pulumi-tls and pulumi-random cannot be
// installed offline; binding.go holds the hand-written bindings, which contract_test.go holds
// to package contract. Their keys and passwords are secret outputs: the engine keeps them
// encrypted in the stack's state, the only place they exist.
package access
