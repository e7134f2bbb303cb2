package provider

import (
	"maps"

	"airgap-site/provider/contract"
)

// Schema is the package schema, generated from package contract: what `pulumi package
// get-schema` shows and what SDKs would be generated from. The Go program uses the
// hand-written binding in components/images, which its tests hold to the same contract.
func Schema() map[string]any {
	resources := map[string]any{}
	for _, r := range contract.Resources {
		inputs := propertySchemas(r.Inputs)
		props := maps.Clone(inputs)
		maps.Copy(props, propertySchemas(r.Outputs))
		resources[r.Token] = map[string]any{
			"description":     r.Description,
			"inputProperties": inputs,
			"requiredInputs":  required(r.Inputs),
			"properties":      props,
			"required":        required(r.All()),
		}
	}
	provider := map[string]any{
		"description":     contract.Provider.Description,
		"inputProperties": propertySchemas(contract.Provider.Inputs),
		"requiredInputs":  required(contract.Provider.Inputs),
	}
	return map[string]any{"name": contract.Name, "version": contract.Version, "provider": provider, "resources": resources}
}

func propertySchemas(props []contract.Property) map[string]any {
	out := map[string]any{}
	for _, p := range props {
		s := map[string]any{"type": p.Type, "description": p.Description}
		switch {
		case p.Type == "object":
			s["additionalProperties"] = map[string]any{"type": p.Items}
		case p.Items != "":
			s["items"] = map[string]any{"type": p.Items}
		}
		if p.Secret {
			s["secret"] = true
		}
		if p.Replace {
			s["replaceOnChanges"] = true
		}
		out[p.Name] = s
	}
	return out
}

func required(props []contract.Property) []string {
	out := []string{}
	for _, p := range props {
		if p.Required {
			out = append(out, p.Name)
		}
	}
	return out
}
