package siteconfig_test

import (
	"testing"

	. "airgap-site/siteconfig"
)

// The registry pods are bounded by default: a flood of requests is throttled at one core and a
// leak restarts the pod, instead of starving the node.
func TestRegistryLimitsByDefault(t *testing.T) {
	c, _, err := Load(validSource(), "osaka")
	if err != nil {
		t.Fatal(err)
	}
	limits := c.Registry.Resources.Limits
	if limits["cpu"] != DefaultRegistryCPULimit || limits["memory"] != DefaultRegistryMemoryLimit || limits["cpu"] == "" || limits["memory"] == "" {
		t.Errorf("default limits %v, want cpu %s and memory %s", limits, DefaultRegistryCPULimit, DefaultRegistryMemoryLimit)
	}
}
