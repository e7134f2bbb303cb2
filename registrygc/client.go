package registrygc

import (
	"fmt"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// ClientFor is a client of the cluster a kubeconfig (its contents) names, in kubeContext (its
// current context when empty), as the site program's Kubernetes provider reaches it: what
// `airgap site gc` and the provider's GarbageCollection collect through.
func ClientFor(kubeconfig, kubeContext string) (kubernetes.Interface, error) {
	apiCfg, err := clientcmd.Load([]byte(kubeconfig))
	if err != nil {
		return nil, fmt.Errorf("parsing kubeconfig: %w", err)
	}
	rc, err := clientcmd.NewNonInteractiveClientConfig(*apiCfg, kubeContext, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig (context %q): %w", kubeContext, err)
	}
	return kubernetes.NewForConfig(rc)
}
