// Package tests holds the end-to-end suite (build tag e2e, run by `make test`) and, below it,
// the harness that starts the local site. The suite drives the real pulumi CLI with a file
// backend against a real kube-apiserver, a real S3 server and the real registry binary.
package tests
