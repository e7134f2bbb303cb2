// Package kube holds the labelling conventions shared by every Kubernetes object the site
// declares.
package kube

import "airgap-site/sitecontract"

// Labels are the recommended app.kubernetes.io labels for one component of a site.
func Labels(name, site, component string) map[string]string {
	l := SelectorLabels(name, site, component)
	l[sitecontract.LabelPartOf] = sitecontract.PartOf
	l[sitecontract.LabelManagedBy] = sitecontract.ManagedBy
	return l
}

// SelectorLabels is the stable subset of Labels used in selectors, which are immutable.
func SelectorLabels(name, site, component string) map[string]string {
	return map[string]string{
		sitecontract.LabelName:      name,
		sitecontract.LabelInstance:  site,
		sitecontract.LabelComponent: component,
	}
}
