// Package harness starts a local factory site on 127.0.0.1 for tests and demos: etcd,
// kube-apiserver (with generated PKI and a kubeconfig), kube-controller-manager,
// kube-scheduler, kwok with fake nodes (so Deployments become Ready), versitygw as the S3
// server with the registry bucket, and containerd with a private root and a registry hosts
// directory, the way a Talos node runs it.
//
// Every process runs in its own process group with a PID file under the site directory, so a
// site can be stopped from the process that started it (tests) or from another one
// (make site-down), and stopping never depends on a test having passed.
package harness
