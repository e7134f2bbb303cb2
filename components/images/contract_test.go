package images

import (
	"testing"

	"airgap-site/components/internal/bindingtest"
	"airgap-site/provider/contract"
)

// TestBindingMatchesContract holds the hand-written binding to package contract: the engine
// passes properties by name, so a tag spelled differently here would be dropped silently.
func TestBindingMatchesContract(t *testing.T) {
	bindingtest.Match[contract.ImageArgs, contract.ImageOutputs, imageArgs, ImageArgs, Image](t, contract.Image)
}

func TestAcceptedBundleBindingMatchesContract(t *testing.T) {
	bindingtest.Match[contract.AcceptedBundleArgs, contract.AcceptedBundleOutputs, acceptedBundleArgs, AcceptedBundleArgs, AcceptedBundle](t, contract.AcceptedBundle)
}

func TestProviderBindingMatchesContract(t *testing.T) {
	bindingtest.Match[contract.ProviderArgs, struct{}, providerArgs, ProviderArgs, struct{}](t, contract.Provider)
}

func TestRetentionBindingMatchesContract(t *testing.T) {
	bindingtest.Match[contract.RetentionArgs, contract.RetentionOutputs, retentionArgs, RetentionArgs, Retention](t, contract.Retention)
}

func TestGarbageCollectionBindingMatchesContract(t *testing.T) {
	bindingtest.Match[contract.GarbageCollectionArgs, contract.GarbageCollectionOutputs, garbageCollectionArgs, GarbageCollectionArgs, GarbageCollection](t, contract.GarbageCollection)
}

func TestRegistryUsageBindingMatchesContract(t *testing.T) {
	bindingtest.Match[contract.RegistryUsageArgs, contract.RegistryUsageOutputs, registryUsageArgs, RegistryUsageArgs, RegistryUsage](t, contract.RegistryUsage)
}
