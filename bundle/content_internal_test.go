package bundle

import (
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// below is the rule every recursion through indexes follows. With manifests checked against
// their digests a real cycle cannot be stored (an index cannot contain its own digest), so the
// cycle cases are tested here, on the rule itself.
func TestBelow(t *testing.T) {
	h := func(c byte) v1.Hash { return v1.Hash{Algorithm: "sha256", Hex: strings.Repeat(string(c), 64)} }
	idx := func(c byte) v1.Descriptor { return v1.Descriptor{MediaType: types.OCIImageIndex, Digest: h(c)} }
	img := func(c byte) v1.Descriptor { return v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: h(c)} }
	for _, tc := range []struct {
		path []v1.Hash
		d    v1.Descriptor
		want string // "" for no error
	}{
		{nil, idx('a'), ""},
		{[]v1.Hash{h('a')}, idx('a'), "index " + h('a').String() + " lists itself"},
		{[]v1.Hash{h('a'), h('b')}, idx('a'), "index " + h('b').String() + " lists " + h('a').String() + ", which it is listed in: a cycle"},
		{[]v1.Hash{h('a'), h('b')}, img('c'), ""},
		{[]v1.Hash{h('a'), h('b'), h('c')}, idx('d'), ""},
		{[]v1.Hash{h('a'), h('b'), h('c'), h('d')}, idx('e'), "index " + h('a').String() + ": indexes nested more than 4 deep (at " + h('e').String() + ")"},
		// An image is no deeper than the index that lists it.
		{[]v1.Hash{h('a'), h('b'), h('c'), h('d')}, img('e'), ""},
	} {
		got := ""
		if err := below(tc.path, tc.d); err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("below(%d indexes, %s) = %q, want %q", len(tc.path), tc.d.Digest.Hex[:1], got, tc.want)
		}
	}
}
