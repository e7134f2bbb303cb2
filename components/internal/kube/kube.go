// Package kube holds the labelling conventions shared by every Kubernetes object the site
// declares.
package kube

// PartOf is the app.kubernetes.io/part-of value of every object this project manages.
const PartOf = "airgap-site"

// Labels are the recommended app.kubernetes.io labels for one component of a site.
func Labels(name, site, component string) map[string]string {
	l := SelectorLabels(name, site, component)
	l["app.kubernetes.io/part-of"] = PartOf
	l["app.kubernetes.io/managed-by"] = "pulumi"
	return l
}

// SelectorLabels is the stable subset of Labels used in selectors, which are immutable.
func SelectorLabels(name, site, component string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":      name,
		"app.kubernetes.io/instance":  site,
		"app.kubernetes.io/component": component,
	}
}
