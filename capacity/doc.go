// Package capacity is the one home of how full a site registry's store is and whether an
// update fits in it: the shape of the stack output registryUsage (Usage, written by the
// program from the airgap provider's RegistryUsage resource, read by `airgap site preview`
// and `airgap fleet` from the state alone), how the free space follows from the figures
// (Free) and the rule an update's bytes to send are held to (Check).
//
// The package imports the standard library, internal/progress (how sizes print) and the
// provider's contract (the resource's token) only.
package capacity
