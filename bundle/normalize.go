package bundle

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
)

// dockerHub is how Docker Hub is written in normalized references. go-containerregistry
// spells it index.docker.io; containerd and the Talos mirror keys spell it docker.io.
const dockerHub = "docker.io"

// Normalize returns the canonical reference string used as key: "nginx:1.27" ->
// "docker.io/library/nginx:1.27", "index.docker.io/x/y:1" -> "docker.io/x/y:1", no tag ->
// ":latest". A reference with a digest keeps only the digest form (the tag of "x:1@sha256:..."
// is dropped: the digest is what is stored). Error for an invalid reference.
func Normalize(ref string) (string, error) {
	r, err := name.ParseReference(ref, name.WeakValidation)
	if err != nil {
		return "", fmt.Errorf("parsing reference %q: %w", ref, err)
	}
	repo := r.Context()
	reg := repo.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = dockerHub
	}
	// RepositoryStr adds library/ to official Docker Hub images.
	full := reg + "/" + repo.RepositoryStr()
	switch r := r.(type) {
	case name.Digest:
		return full + "@" + r.DigestStr(), nil
	case name.Tag:
		return full + ":" + r.TagStr(), nil
	}
	return "", fmt.Errorf("parsing reference %q: neither a tag nor a digest", ref)
}
