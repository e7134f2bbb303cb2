// Package registry renders and deploys the site's CNCF distribution registry.
//
// Render turns the typed site config into the registry's config.yml (a pure function, golden
// tested), and RenderNetworkPolicy the registry pods' ingress policy (pure, golden tested);
// New declares the Kubernetes objects that run them: Namespace, a Secret per endpoint (its S3
// key pair, the pull endpoint's read-only, and the shared http secret, handed to the pods as
// environment), ConfigMap (config.yml), Deployment, PodDisruptionBudget, NetworkPolicy and a
// NodePort Service that containerd on every node can reach without cluster DNS.
package registry
