package siteconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
// do not stop a deployment; any error means no resource may be declared.
func Load(src Source, stack string) (*Config, []string, error) {
	c := New(stack)
	var errs []error
	if v, ok := src.Get(KeySite); ok && v != "" {
		c.Site = v
	}
	errs = appendErr(errs, decodeKey(src, KeyNodes, &c.Nodes))
	errs = appendErr(errs, decodeKey(src, KeyRegistry, &c.Registry))
	errs = appendErr(errs, decodeObjectStore(src, &c.ObjectStore))
	errs = appendErr(errs, decodeKey(src, KeyKubernetes, &c.Kubernetes))
	errs = appendErr(errs, decodeKey(src, KeyTalos, &c.Talos))
	errs = appendErr(errs, decodeKey(src, KeyBootstrap, &c.Bootstrap))
	errs = appendErr(errs, decodeKey(src, KeyImages, &c.Images))
	for key, dst := range c.Secrets.byKey() {
		v, ok := src.Get(key)
		if !ok || v == "" {
			continue
		}
		if !src.IsSecret(key) {
			errs = append(errs, &FieldError{Field: key, Problem: fmt.Sprintf(
				"stored in plaintext in the stack file; set it with `pulumi config set --secret %s <value>`", key)})
			continue
		}
		*dst = NewSecret(v)
	}
	if len(errs) > 0 {
		return nil, nil, &ValidationError{Errors: errs}
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
	if err != nil {
		return nil, warnings, err
	}
	return c, warnings, nil
}

// decodeKey decodes the JSON value of key over into, rejecting unknown fields so a misspelt
// field fails loudly instead of silently keeping its default.
func decodeKey(src Source, key string, into any) error {
	raw, ok := src.Get(key)
	if !ok {
		return nil
	}
	return decodeStrict(key, []byte(raw), into)
}

func decodeStrict(field string, raw []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return &FieldError{Field: field, Problem: describeJSONError(err)}
	}
	return nil
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
		return fmt.Sprintf("expected %s%s, got %s", typeErr.Type, where, typeErr.Value)
	case errors.As(err, &syntaxErr):
		return "not valid YAML/JSON: " + syntaxErr.Error()
	default:
		// encoding/json says `json: unknown field "x"`; the prefix means nothing to a user.
		return strings.TrimPrefix(err.Error(), "json: ")
	}
}

// decodeObjectStore applies tenant defaults only for kind minio-tenant, and rejects fields
// that belong to the other kind.
func decodeObjectStore(src Source, o *ObjectStore) error {
	raw, ok := src.Get(KeyObjectStore)
	if !ok {
		return nil
	}
	doc := struct {
		ObjectStore
		Tenant json.RawMessage `json:"tenant,omitempty"`
	}{ObjectStore: *o}
	if err := decodeStrict(KeyObjectStore, []byte(raw), &doc); err != nil {
		return err
	}
	*o = doc.ObjectStore
	if o.Kind != ObjectStoreMinioTenant {
		if len(doc.Tenant) > 0 {
			return &FieldError{Field: "objectStore.tenant", Problem: fmt.Sprintf(
				"only used with kind %q (kind is %q)", ObjectStoreMinioTenant, o.Kind)}
		}
		return nil
	}
	t := DefaultTenant()
	if len(doc.Tenant) > 0 {
		if err := decodeStrict("objectStore.tenant", doc.Tenant, &t); err != nil {
			return err
		}
	}
	o.Tenant = &t
	return nil
}

func appendErr(errs []error, err error) []error {
	if err != nil {
		return append(errs, err)
	}
	return errs
}
