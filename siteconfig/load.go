package siteconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Source is where Load reads stack config: the Pulumi context in the program, a map in tests.
type Source interface {
	// Get returns the raw value of key in the project namespace: JSON text for objects and
	// arrays, the plain string otherwise.
	Get(key string) (string, bool)
	// IsSecret reports whether key is stored encrypted in the stack config.
	IsSecret(key string) bool
}

// MapSource is a Source over plain maps, for tests and tools. Keys in Secret are secret.
type MapSource struct {
	Values map[string]string
	Secret map[string]bool
}

// Get implements Source.
func (m MapSource) Get(key string) (string, bool) { v, ok := m.Values[key]; return v, ok }

// IsSecret implements Source.
func (m MapSource) IsSecret(key string) bool { return m.Secret[key] }

// Load reads, defaults and validates the site config of stack. Warnings are worth showing but
// do not stop a deployment; any error means no resource may be declared. Every problem is
// reported at once: unknown keys (when src can list its keys), values of the wrong kind, and
// what Validate finds in the keys that decoded (a key that did not decode is not validated:
// its defaults would be blamed for the user's mistake).
func Load(src Source, stack string) (*Config, []string, error) {
	c, warnings, err := LoadAll(src, stack)
	if err != nil {
		return nil, warnings, err
	}
	return c, warnings, nil
}

// LoadAll is Load that also returns, along with an error, the config as far as it decoded
// (defaults where it did not), so that later checks (the image pins) can add their problems
// to the same report: see ValidationError.Names and WithProblems. Nothing may be deployed
// from a config returned with an error.
func LoadAll(src Source, stack string) (*Config, []string, error) {
	c := New(stack)
	errs := unknownTopLevel(src)
	if v, ok := src.Get(KeySite); ok && v != "" {
		c.Site = v
	}
	// The fields a decode error names: Validate's findings there (or inside) would blame a
	// default for the user's mistake.
	var failed []string
	decode := func(errsOfKey []error) {
		for _, e := range errsOfKey {
			if fe, ok := e.(*FieldError); ok {
				failed = append(failed, fe.Field)
			}
		}
		errs = append(errs, errsOfKey...)
	}
	decode(decodeKey(src, KeyNodes, &c.Nodes))
	decode(decodeKey(src, KeyRegistry, &c.Registry))
	decode(decodeObjectStore(src, &c.ObjectStore))
	decode(decodeKey(src, KeyKubernetes, &c.Kubernetes))
	decode(decodeKey(src, KeyTalos, &c.Talos))
	decode(decodeKey(src, KeyBootstrap, &c.Bootstrap))
	decode(decodeKey(src, KeyImages, &c.Images))
	secrets := c.Secrets.byKey()
	for _, key := range slices.Sorted(maps.Keys(secrets)) {
		dst := secrets[key]
		v, ok := src.Get(key)
		if !ok || v == "" {
			continue
		}
		if !src.IsSecret(key) {
			errs = append(errs, &FieldError{Field: key, Problem: fmt.Sprintf(
				"stored in plaintext in the stack file; set it with `pulumi config set --secret %s <value>`", key)})
			failed = append(failed, key)
			continue
		}
		*dst = NewSecret(v)
	}
	defaultTalos(c)
	if c.Registry.PushNodePort == 0 {
		// The port after the pull port, or the one before it at the top of the range.
		c.Registry.PushNodePort = c.Registry.NodePort + 1
		if c.Registry.PushNodePort > MaxNodePort {
			c.Registry.PushNodePort = c.Registry.NodePort - 1
		}
	}
	warnings, err := Validate(c)
	if verr, ok := err.(*ValidationError); ok {
		for _, e := range verr.Errors {
			if fe, ok := e.(*FieldError); ok && slices.ContainsFunc(failed, func(f string) bool { return within(fe.Field, f) }) {
				continue
			}
			errs = append(errs, e)
		}
	} else if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return c, warnings, &ValidationError{Errors: errs}
	}
	return c, warnings, nil
}

// within reports whether field is path or a field inside it (path.x, path[0]).
func within(field, path string) bool {
	return field == path || strings.HasPrefix(field, path+".") || strings.HasPrefix(field, path+"[")
}

// decodeKey decodes the value of key over into, after checking it against into's type: every
// unknown (or wrongly cased) field and every value of the wrong kind is an error.
func decodeKey(src Source, key string, into any) []error {
	raw, ok := src.Get(key)
	if !ok {
		return nil
	}
	return decodeChecked(key, []byte(raw), into)
}

func describeJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		where := ""
		if typeErr.Field != "" {
			where = " at " + typeErr.Field
		}
		return fmt.Sprintf("expected %s%s, got a %s", friendlyType(typeErr.Type), where, typeErr.Value)
	case errors.As(err, &syntaxErr):
		return "not valid YAML/JSON: " + syntaxErr.Error()
	default:
		// encoding/json says `json: unknown field "x"`; the prefix means nothing to a user.
		return strings.TrimPrefix(err.Error(), "json: ")
	}
}

// decodeObjectStore applies tenant defaults only for kind minio-tenant, and rejects a tenant
// block with the other known kind. An unknown kind is Validate's to report (on
// objectStore.kind): the tenant block is then only checked, not blamed.
func decodeObjectStore(src Source, o *ObjectStore) []error {
	raw, ok := src.Get(KeyObjectStore)
	if !ok {
		return nil
	}
	doc := struct {
		ObjectStore
		Tenant json.RawMessage `json:"tenant,omitempty"`
	}{ObjectStore: *o}
	// The whole block in one pass, tenant included (its first "tenant" field is the *Tenant).
	errs := decodeChecked(KeyObjectStore, []byte(raw), &doc)
	*o = doc.ObjectStore
	o.Tenant = nil
	switch o.Kind {
	case ObjectStoreMinioTenant:
		t := DefaultTenant()
		if len(doc.Tenant) > 0 {
			_ = json.Unmarshal(doc.Tenant, &t) // its problems are in errs already
		}
		o.Tenant = &t
	case ObjectStoreExternal:
		if len(doc.Tenant) > 0 && string(doc.Tenant) != "null" {
			errs = append(errs, &FieldError{Field: "objectStore.tenant", Problem: fmt.Sprintf(
				"only used with kind %q (kind is %q): remove it, or set kind: %s", ObjectStoreMinioTenant, o.Kind, ObjectStoreMinioTenant)})
		}
	}
	return errs
}
