// Package tests holds the end-to-end suite (build tag e2e, run by `make test`) and, below it,
// the harness that starts the local site. The suite drives the real pulumi CLI with a file
// backend against a real kube-apiserver, a real S3 server and the real registry binary.
//
// All tests share one local site. The tests that stop or reconfigure a shared part (S3 in
// TestImageFaults, the API server in TestKwokStack, the real node and the loopback
// containerd) run one after another; the ones that only use the site through a stack, a
// namespace, NodePorts and a registry of their own call t.Parallel, so Go runs them together
// after the others, two at a time (-parallel defaults to GOMAXPROCS).
package tests
