// Package registry renders and deploys the site's CNCF distribution registry.
//
// Render turns the typed site config into the registry's config.yml (a pure function, golden
// tested); New declares the Kubernetes objects that run it: Namespace, Secret (S3 keys and the
// shared http secret, handed to the pods as environment), ConfigMap (config.yml), Deployment,
// PodDisruptionBudget and a NodePort Service that containerd on every node can reach without
// cluster DNS.
package registry
