package nodeimage

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Platform of every image: the node is linux/amd64, and containerd refuses an image whose
// config names no platform.
var Platform = v1.Platform{OS: "linux", Architecture: "amd64"}

// pathEnv is the usual PATH of a Linux image.
const pathEnv = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// descriptionLabel tells anyone who finds these images under upstream names what they are.
const descriptionLabel = "org.opencontainers.image.description"

// Image builds the OCI image of s: the base layer, then the binary's.
func Image(s Spec) (v1.Image, error) {
	img, err := image(s)
	if err != nil {
		return nil, fmt.Errorf("building %s: %w", s.Ref, err)
	}
	return img, nil
}

func image(s Spec) (v1.Image, error) {
	base, err := baseLayer()
	if err != nil {
		return nil, err
	}
	bin, err := binaryLayer(s)
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: history("base: /etc/passwd, /etc/group, /tmp")},
		mutate.Addendum{Layer: bin, History: history("binary: " + s.Path)},
	)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = Platform.OS, Platform.Architecture
	cf.Created = v1.Time{Time: Epoch}
	cf.Config = config(s)
	return mutate.ConfigFile(img, cf)
}

func history(what string) v1.History {
	return v1.History{Created: v1.Time{Time: Epoch}, CreatedBy: "airgap-site tests/nodeimages " + what}
}

func config(s Spec) v1.Config {
	c := v1.Config{
		Entrypoint: s.Entrypoint,
		Cmd:        s.Cmd,
		User:       s.User,
		Env:        []string{pathEnv},
		WorkingDir: "/",
		Labels:     map[string]string{descriptionLabel: "airgap-site test build (tests/nodeimages), not the upstream image"},
	}
	if len(s.Ports) > 0 {
		c.ExposedPorts = map[string]struct{}{}
		for _, p := range s.Ports {
			c.ExposedPorts[p] = struct{}{}
		}
	}
	return c
}
