package provider

// Schema is the package schema: what `pulumi package get-schema` shows and what SDKs would be
// generated from. The Go program uses the hand-written binding in components/images.
func Schema() map[string]any {
	str := map[string]any{"type": "string"}
	inputs := map[string]any{
		"sourceLayout": withDesc(str, "Bundle directory (OCI layout written by `airgap bundle`)."),
		"sourceRef":    withDesc(str, "The image's original reference, as recorded in the bundle."),
		"sourceRemote": withDesc(str, "A registry reference to copy from instead of a bundle."),
		"registry":     withDesc(str, "Target registry host:port."),
		"insecure":     map[string]any{"type": "boolean", "description": "Plain http to the target registry."},
		"ca":           withDesc(str, "PEM CA of the target registry."),
		"username":     withDesc(str, "Target registry user."),
		"password":     map[string]any{"type": "string", "secret": true, "description": "Target registry password."},
		"repository":   withDesc(str, "Target repository, by the mirror scheme <upstream>/<path>."),
		"tag":          withDesc(str, "Target tag."),
		"mountFrom":    map[string]any{"type": "array", "items": str, "description": "Sibling repositories to mount shared blobs from."},
		"retain":       map[string]any{"type": "boolean", "description": "Keep the tag when the resource is deleted."},
		"jobs":         map[string]any{"type": "integer", "description": "Parallel blob transfers (default 4)."},
	}
	props := map[string]any{}
	for k, v := range inputs {
		props[k] = v
	}
	props["digest"] = withDesc(str, "Digest of the image in the registry.")
	props["mediaType"] = withDesc(str, "Media type of the top-level manifest.")
	props["platforms"] = map[string]any{"type": "array", "items": str}
	props["totalBytes"] = map[string]any{"type": "number", "description": "Size of all unique blobs and manifests."}
	props["sentBytes"] = map[string]any{"type": "number", "description": "Bytes sent by the last copy."}
	props["ref"] = withDesc(str, "The target reference.")
	return map[string]any{
		"name":    Name,
		"version": Version,
		"resources": map[string]any{
			ImageType: map[string]any{
				"description":     "An image copied from an offline bundle into the site registry, diffed by digest.",
				"inputProperties": inputs,
				"requiredInputs":  []string{"registry", "repository", "tag"},
				"properties":      props,
				"required":        []string{"registry", "repository", "tag", "digest"},
			},
		},
	}
}

func withDesc(base map[string]any, d string) map[string]any {
	out := map[string]any{"description": d}
	for k, v := range base {
		out[k] = v
	}
	return out
}
