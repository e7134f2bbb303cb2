package capacity

import (
	"bytes"
	"encoding/json"
	"fmt"

	"airgap-site/internal/progress"
	"airgap-site/provider/contract"
)

// Unknown is the value of a figure that could not be had.
const Unknown = -1

// Usage is what the site registry's store holds, as the last up measured it: the stack output
// registryUsage.
type Usage struct {
	// ReferencedBytes are the manifests and blobs of the stack's images and of the versions
	// kept for a rollback (their signatures and attestations included), each counted once:
	// what a garbage collection keeps.
	ReferencedBytes int64 `json:"referencedBytes"`
	// TotalBytes is everything under the registry's root directory in the bucket (uploads in
	// flight and garbage not yet collected included); Unknown when the store was not listed
	// (Unmeasured says why).
	TotalBytes int64 `json:"totalBytes"`
	// CapacityBytes is the store's usable size; Unknown when not known.
	CapacityBytes int64 `json:"capacityBytes"`
	// FreeBytes is Free of the figures above.
	FreeBytes int64 `json:"freeBytes"`
	// MeasuredAt is when (RFC 3339, UTC).
	MeasuredAt string `json:"measuredAt"`
	// Unmeasured says why TotalBytes is Unknown; empty when it is not.
	Unmeasured string `json:"unmeasured,omitempty"`
}

// Free is what capacity leaves after total, or after referenced where the total is unknown
// (then an upper bound: the store may hold more than the references); Unknown without a
// capacity. Never below zero.
func Free(capacity, total, referenced int64) int64 {
	if capacity <= 0 {
		return Unknown
	}
	used := total
	if used < 0 {
		used = referenced
	}
	return max(capacity-used, 0)
}

// Headroom is the share of the capacity an update should leave free: S3 servers slow down
// and refuse writes when nearly full, and the previous versions stay until the collection
// that follows the up.
const Headroom = 0.10

// Verdict is what Check concludes.
type Verdict int

const (
	// Fits: the update leaves at least Headroom of the capacity free.
	Fits Verdict = iota
	// Unchecked: no capacity or usage to check against.
	Unchecked
	// Tight: the update fits but leaves less than Headroom free: a warning.
	Tight
	// TooLarge: the update's bytes exceed the free space: it cannot be stored.
	TooLarge
)

// Check holds an update that sends toSend bytes against the store's capacityBytes (as the
// config says now: objectStore.capacity, or a tenant's volumes; 0 unknown) and what u, the last
// measure, found in it (nil: none recorded yet), and says why in a sentence.
func Check(toSend int64, u *Usage, capacityBytes int64) (Verdict, string) {
	switch {
	case capacityBytes <= 0:
		return Unchecked, "the store's capacity is not known (objectStore.capacity)"
	case u == nil:
		return Unchecked, "the state records no registry usage yet (an up records it)"
	}
	free := Free(capacityBytes, u.TotalBytes, u.ReferencedBytes)
	left := free - toSend
	switch {
	case left < 0:
		return TooLarge, fmt.Sprintf("the update sends %s but the store has %s free of %s (measured %s): it cannot be stored; "+
			"lower images.keepPrevious and run `airgap site gc`, or grow the store", progress.Bytes(toSend), progress.Bytes(free), progress.Bytes(capacityBytes), u.MeasuredAt)
	case float64(left) < Headroom*float64(capacityBytes):
		return Tight, fmt.Sprintf("the update sends %s and would leave %s free of %s (under %.0f%%; measured %s)",
			progress.Bytes(toSend), progress.Bytes(left), progress.Bytes(capacityBytes), Headroom*100, u.MeasuredAt)
	}
	return Fits, fmt.Sprintf("the update sends %s; %s of %s stay free", progress.Bytes(toSend), progress.Bytes(left), progress.Bytes(capacityBytes))
}

// FromDeployment reads the usage the last up or refresh measured from a stack's state (the
// deployment of a `pulumi stack export`): the outputs of its RegistryUsage resource, which a
// refresh brings up to date where the stack output waits for the next up. nil when the state
// has none.
func FromDeployment(deployment json.RawMessage) (*Usage, error) {
	if len(bytes.TrimSpace(deployment)) == 0 || string(bytes.TrimSpace(deployment)) == "null" {
		return nil, nil
	}
	// The state holds numbers as JSON numbers of any form (1e+09).
	var d struct {
		Resources []struct {
			Type    string `json:"type"`
			Delete  bool   `json:"delete"`
			Outputs struct {
				Referenced float64 `json:"referencedBytes"`
				Total      float64 `json:"totalBytes"`
				Capacity   float64 `json:"capacityBytes"`
				Free       float64 `json:"freeBytes"`
				MeasuredAt string  `json:"measuredAt"`
				Unmeasured string  `json:"unmeasured"`
			} `json:"outputs"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(deployment, &d); err != nil {
		return nil, fmt.Errorf("reading the stack's state: %w", err)
	}
	for _, r := range d.Resources {
		if r.Type != contract.RegistryUsageToken || r.Delete {
			continue
		}
		o := r.Outputs
		return FromOutputs(int64(o.Capacity), contract.RegistryUsageOutputs{ReferencedBytes: int(o.Referenced), TotalBytes: int(o.Total),
			FreeBytes: int(o.Free), MeasuredAt: o.MeasuredAt, Unmeasured: o.Unmeasured}), nil
	}
	return nil, nil
}

// FromOutputs is the usage a RegistryUsage resource measured (its outputs o) of a store of
// capacityBytes (its input; 0 unknown).
func FromOutputs(capacityBytes int64, o contract.RegistryUsageOutputs) *Usage {
	if capacityBytes <= 0 {
		capacityBytes = Unknown
	}
	return &Usage{ReferencedBytes: int64(o.ReferencedBytes), TotalBytes: int64(o.TotalBytes), CapacityBytes: capacityBytes,
		FreeBytes: int64(o.FreeBytes), MeasuredAt: o.MeasuredAt, Unmeasured: o.Unmeasured}
}

// Summary is the usage in a few words, for a table: "34.2 MB of 150.0 GB (0%)", or the bytes
// held when the capacity is unknown.
func (u *Usage) Summary() string {
	if u == nil {
		return "-"
	}
	held, what := u.TotalBytes, ""
	if held < 0 {
		held, what = u.ReferencedBytes, " referenced"
	}
	if u.CapacityBytes <= 0 {
		return progress.Bytes(held) + what
	}
	return fmt.Sprintf("%s%s of %s (%.0f%%)", progress.Bytes(held), what, progress.Bytes(u.CapacityBytes), 100*float64(held)/float64(u.CapacityBytes))
}
