// Package siteprobe tells whether a site's Kubernetes API answers, from where pulumi runs:
// the API server a kubeconfig names (or talos.clusterEndpoint for a talos.manage site), dialed
// with a short timeout. The program warns with it that a preview was planned from state only
// (UnreachableWarning); fleet marks each site's row with it. Both read the site's kubeconfig
// the same way (ReadKubeconfig).
package siteprobe
