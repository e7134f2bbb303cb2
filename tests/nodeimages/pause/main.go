// Command pause is the pod sandbox image of the local site's real node
// (registry.k8s.io/pause:3.10 in the test bundle): it holds the pod's namespaces by doing
// nothing until the kubelet stops it, then exits 0. Build it static (CGO_ENABLED=0): the image
// holds nothing else.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
