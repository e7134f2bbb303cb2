package siteconfig_test

import (
	"testing"

	. "airgap-site/siteconfig"
)

// TestErasureSet: the set size MinIO picks for a tenant's drives and its default parity.
func TestErasureSet(t *testing.T) {
	for _, tc := range []struct{ drives, set, parity int }{
		{1, 1, 0}, {2, 2, 1}, {3, 3, 1}, {4, 4, 2}, {6, 6, 3}, {7, 7, 3}, {8, 8, 4}, {16, 16, 4},
		{24, 12, 4}, {32, 16, 4}, {17, 1, 0},
	} {
		if set, parity := ErasureSet(tc.drives); set != tc.set || parity != tc.parity {
			t.Errorf("%d drives: set %d EC:%d, want %d EC:%d", tc.drives, set, parity, tc.set, tc.parity)
		}
	}
}

// TestCapacityBytes: declared, derived from a tenant's volumes, or unknown.
func TestCapacityBytes(t *testing.T) {
	const gi = int64(1) << 30
	s := tenantSource()
	s.Values[KeyObjectStore] = `{"kind":"minio-tenant","tenant":{"servers":3,"volumesPerServer":2,"size":"50Gi"}}`
	c, _, err := Load(s, "osaka")
	if err != nil {
		t.Fatal(err)
	}
	// 6 drives: one set of 6 at EC:3, half of the 300Gi raw.
	if got, from := c.ObjectStore.CapacityBytes(); got != 150*gi || from == "" {
		t.Errorf("3 x 2 x 50Gi: %d (%q), want %d", got, from, 150*gi)
	}
	s.Values[KeyObjectStore] = `{"kind":"minio-tenant","capacity":"80Gi","tenant":{"servers":3,"volumesPerServer":2,"size":"50Gi"}}`
	if c, _, err = Load(s, "osaka"); err != nil {
		t.Fatal(err)
	}
	if got, from := c.ObjectStore.CapacityBytes(); got != 80*gi || from != "objectStore.capacity" {
		t.Errorf("declared 80Gi: %d (%q)", got, from)
	}
	v := validSource()
	if c, _, err = Load(v, "osaka"); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.ObjectStore.CapacityBytes(); got != 0 {
		t.Errorf("an external store without capacity: %d, want 0 (unknown)", got)
	}
	if got := c.ObjectStore.UsageURL(); got != c.ObjectStore.Endpoint {
		t.Errorf("usage measured at %q, want the endpoint %q", got, c.ObjectStore.Endpoint)
	}
}

func TestLoadRejectsCapacity(t *testing.T) {
	for _, tc := range []struct{ name, store, field string }{
		{"capacity not a quantity", `{"kind":"external","endpoint":"http://s3:9000","capacity":"lots"}`, "objectStore.capacity"},
		{"capacity zero", `{"kind":"external","endpoint":"http://s3:9000","capacity":"0"}`, "objectStore.capacity"},
		{"usage endpoint without scheme", `{"kind":"external","endpoint":"http://s3:9000","usageEndpoint":"127.0.0.1:9000"}`, "objectStore.usageEndpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := validSource()
			s.Values[KeyObjectStore] = tc.store
			_, _, err := Load(s, "osaka")
			assertFieldError(t, err, tc.field)
		})
	}
	s := validSource()
	s.Values[KeyObjectStore] = `{"kind":"external","endpoint":"http://s3:9000","usageEndpoint":"none"}`
	c, _, err := Load(s, "osaka")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ObjectStore.UsageURL(); got != "" {
		t.Errorf("usageEndpoint none measures at %q", got)
	}
}
