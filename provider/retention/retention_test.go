package retention

import (
	"reflect"
	"testing"
)

const (
	d1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	d2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	d3 = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
	d4 = "sha256:4444444444444444444444444444444444444444444444444444444444444444"
)

func v(repo, tag, digest string) Version { return Version{Repository: repo, Tag: tag, Digest: digest} }

func TestRetire(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, now map[string]string
		previous []Version
		keep     int
		want     Plan
	}{{
		name: "a new tag of the app keeps the old one",
		old:  map[string]string{"example.com/app:1": d1},
		now:  map[string]string{"example.com/app:2": d2},
		keep: 1,
		want: Plan{Previous: []Version{v("example.com/app", "1", d1)}, Keep: []Version{v("example.com/app", "1", d1)}},
	}, {
		name:     "the next one drops the oldest",
		old:      map[string]string{"example.com/app:2": d2},
		now:      map[string]string{"example.com/app:3": d3},
		previous: []Version{v("example.com/app", "1", d1)},
		keep:     1,
		want: Plan{
			Previous: []Version{v("example.com/app", "2", d2)},
			Keep:     []Version{v("example.com/app", "2", d2)},
			Drop:     []Version{v("example.com/app", "1", d1)},
		},
	}, {
		name:     "a moved tag keeps its old digest",
		old:      map[string]string{"example.com/app:latest": d2},
		now:      map[string]string{"example.com/app:latest": d3},
		previous: []Version{v("example.com/app", "latest", d1)},
		keep:     2,
		want: Plan{
			Previous: []Version{v("example.com/app", "latest", d2), v("example.com/app", "latest", d1)},
			Keep:     []Version{v("example.com/app", "latest", d2)},
		},
	}, {
		name:     "a rollback makes the kept version current and keeps the one it replaces",
		old:      map[string]string{"example.com/app:2": d2},
		now:      map[string]string{"example.com/app:1": d1},
		previous: []Version{v("example.com/app", "1", d1)},
		keep:     1,
		want:     Plan{Previous: []Version{v("example.com/app", "2", d2)}, Keep: []Version{v("example.com/app", "2", d2)}},
	}, {
		name: "keep 0 drops at once",
		old:  map[string]string{"example.com/app:1": d1, "example.com/db:1": d4},
		now:  map[string]string{"example.com/app:2": d2, "example.com/db:1": d4},
		keep: 0,
		want: Plan{Drop: []Version{v("example.com/app", "1", d1)}},
	}, {
		name: "a digest another tag of the repository still holds is neither kept nor dropped",
		old:  map[string]string{"example.com/app:1": d1, "example.com/app:stable": d1},
		now:  map[string]string{"example.com/app:2": d2, "example.com/app:stable": d1},
		keep: 0,
		want: Plan{},
	}, {
		name:     "windows are per repository",
		old:      map[string]string{"example.com/app:2": d2, "example.com/db:1": d3},
		now:      map[string]string{"example.com/app:2": d2, "example.com/db:2": d4},
		previous: []Version{v("example.com/app", "1", d1)},
		keep:     1,
		want: Plan{
			Previous: []Version{v("example.com/db", "1", d3), v("example.com/app", "1", d1)},
			Keep:     []Version{v("example.com/db", "1", d3)},
		},
	}, {
		name: "a registry host with a port",
		old:  map[string]string{"registry.local_5000/app:1": d1},
		now:  map[string]string{},
		keep: 1,
		want: Plan{Previous: []Version{v("registry.local_5000/app", "1", d1)}, Keep: []Version{v("registry.local_5000/app", "1", d1)}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Retire(tc.old, tc.now, tc.previous, tc.keep)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Retire:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestChanges(t *testing.T) {
	prev := []Version{v("example.com/app", "1", d1)}
	for _, tc := range []struct {
		name     string
		old, now map[string]string
		want     bool
	}{
		{"adding an image", map[string]string{"example.com/app:2": d2}, map[string]string{"example.com/app:2": d2, "example.com/db:1": d3}, false},
		{"nothing", map[string]string{"example.com/app:2": d2}, map[string]string{"example.com/app:2": d2}, false},
		{"a moved tag", map[string]string{"example.com/app:2": d2}, map[string]string{"example.com/app:2": d3}, true},
		{"a removed image", map[string]string{"example.com/app:2": d2, "example.com/db:1": d3}, map[string]string{"example.com/app:2": d2}, true},
		{"a kept version back", map[string]string{"example.com/app:2": d2}, map[string]string{"example.com/app:2": d2, "example.com/app:1": d1}, true},
	} {
		got, err := Changes(tc.old, tc.now, prev)
		if err != nil || got != tc.want {
			t.Errorf("%s: Changes = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestVersionRoundTrip(t *testing.T) {
	want := v("registry.local_5000/team/app", "1.2.3", d1)
	got, err := ParseVersion(want.String())
	if err != nil || got != want {
		t.Fatalf("ParseVersion(%q) = %+v, %v", want.String(), got, err)
	}
	for _, bad := range []string{"app", "app:1", "app@" + d1, ":1@" + d1, "app:@" + d1} {
		if _, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) succeeded", bad)
		}
	}
	if got := KeptTag(d1); got != "kept-sha256-1111111111111111111111111111111111111111111111111111111111111111" {
		t.Errorf("KeptTag = %q", got)
	}
}
