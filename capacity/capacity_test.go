package capacity

import (
	"strings"
	"testing"
)

func TestFree(t *testing.T) {
	for _, tc := range []struct{ capacity, total, referenced, want int64 }{
		{100, 30, 20, 70},
		{100, Unknown, 20, 80}, // the references where the store was not listed
		{100, 130, 20, 0},
		{0, 30, 20, Unknown},
		{Unknown, 30, 20, Unknown},
	} {
		if got := Free(tc.capacity, tc.total, tc.referenced); got != tc.want {
			t.Errorf("Free(%d, %d, %d) = %d, want %d", tc.capacity, tc.total, tc.referenced, got, tc.want)
		}
	}
}

func TestCheck(t *testing.T) {
	u := &Usage{ReferencedBytes: 30e6, TotalBytes: 34e6, MeasuredAt: "2026-12-02T14:00:00Z"}
	for _, tc := range []struct {
		toSend, capacity int64
		u                *Usage
		want             Verdict
		says             string
	}{
		{10e6, 100e6, u, Fits, "56.0 MB of 100.0 MB stay free"},
		{60e6, 100e6, u, Tight, "would leave 6.0 MB free"},
		{66e6, 100e6, u, Tight, "would leave 0 B free"},
		{66e6 + 1, 100e6, u, TooLarge, "cannot be stored"},
		{10e6, 100e6, nil, Unchecked, "no registry usage"},
		{10e6, 0, u, Unchecked, "objectStore.capacity"},
		// Not listed: the references stand for the total (70 MB free, not 66).
		{67e6, 100e6, &Usage{ReferencedBytes: 30e6, TotalBytes: Unknown}, Tight, "would leave 3.0 MB free"},
	} {
		got, why := Check(tc.toSend, tc.u, tc.capacity)
		if got != tc.want || !strings.Contains(why, tc.says) {
			t.Errorf("Check(%d, %d): %v %q, want %v saying %q", tc.toSend, tc.capacity, got, why, tc.want, tc.says)
		}
	}
}

func TestFromDeployment(t *testing.T) {
	dep := `{"resources":[
		{"type":"pulumi:pulumi:Stack","outputs":{"registryUsage":{"referencedBytes":1}}},
		{"type":"airgap:index:RegistryUsage","outputs":{"capacityBytes":1e9,"referencedBytes":30e6,"totalBytes":-1,"freeBytes":970e6,"measuredAt":"2026-12-02T14:00:00Z","unmeasured":"no usage endpoint","accessKey":{"ciphertext":"x"}}}]}`
	u, err := FromDeployment([]byte(dep))
	if err != nil || u == nil || u.TotalBytes != Unknown || u.FreeBytes != 970e6 || u.CapacityBytes != 1e9 || u.ReferencedBytes != 30e6 {
		t.Fatalf("%+v %v", u, err)
	}
	if got := u.Summary(); got != "30.0 MB referenced of 1.0 GB (3%)" {
		t.Errorf("summary %q", got)
	}
	for _, none := range []string{``, `null`, `{"resources":[{"type":"airgap:index:RegistryUsage","delete":true,"outputs":{}}]}`} {
		if u, err := FromDeployment([]byte(none)); u != nil || err != nil {
			t.Errorf("%q: %+v %v", none, u, err)
		}
	}
}
