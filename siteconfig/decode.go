package siteconfig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// The decode stage: each key's YAML (as JSON text) is checked against the typed config before
// it is decoded, so that every problem of a key is reported at once, by the path written in
// the stack file, in YAML terms: an unknown or misspelt key (exact case: `nodeport` is not
// `nodePort`), or a value of the wrong kind, with what to write instead.

// TopLevelKeys are the keys of the project namespace (airgap-site:<key>) that the config
// reads: the objects and strings of Config, and the secrets. Any other key is a mistake.
func TopLevelKeys() []string {
	var keys []string
	for _, f := range jsonFields(reflect.TypeFor[Config]()) {
		if f.name != "secrets" {
			keys = append(keys, f.name)
		}
	}
	for _, f := range jsonFields(reflect.TypeFor[Secrets]()) {
		keys = append(keys, f.name)
	}
	return keys
}

// KeyLister is a Source that can list its keys; Load then refuses those it does not know.
type KeyLister interface {
	Keys() []string
}

// Keys implements KeyLister.
func (m MapSource) Keys() []string {
	keys := make([]string, 0, len(m.Values))
	for k := range m.Values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// unknownTopLevel reports every key of src that the config does not read.
func unknownTopLevel(src Source) []error {
	l, ok := src.(KeyLister)
	if !ok {
		return nil
	}
	known := TopLevelKeys()
	var errs []error
	for _, k := range l.Keys() {
		if slices.Contains(known, k) {
			continue
		}
		errs = append(errs, &FieldError{Field: ConfigNamespace + ":" + k, Problem: unknownProblem(k, known)})
	}
	return errs
}

// unknownProblem says a key is unknown, suggesting the known key it most likely means.
func unknownProblem(key string, known []string) string {
	if s := suggest(key, known); s != "" {
		return fmt.Sprintf("unknown key; did you mean %s? (keys are case-sensitive)", s)
	}
	return "unknown key; the keys here are " + strings.Join(known, ", ")
}

// suggest returns the known key that differs from key only in case, or by at most two edits
// (a typo), or "".
func suggest(key string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if strings.EqualFold(k, key) {
			return k
		}
		if d := editDistance(strings.ToLower(key), strings.ToLower(k)); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Damerau-Levenshtein (optimal string alignment) distance of a and b.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// decodeChecked checks raw (the JSON text of field) against into's type, reporting every
// problem, and decodes it into into only when there is none.
func decodeChecked(field string, raw []byte, into any) []error {
	v, ok := parseValue(raw)
	var errs []error
	checkShape(field, lastKey(field), v, reflect.TypeOf(into).Elem(), &errs)
	if !ok {
		return errs // plain text: checkShape accepted it only where text is expected
	}
	if len(errs) > 0 {
		// Best effort, so that the rest of the key is still validated: encoding/json skips
		// values of the wrong type and keeps the defaults there.
		_ = json.Unmarshal(raw, into)
		return errs
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return []error{&FieldError{Field: field, Problem: describeJSONError(err)}}
	}
	return nil
}

// parseValue reads a config value: JSON text for objects, lists, numbers and booleans. A value
// that is not JSON is plain text (how Pulumi passes a string written at the top level).
func parseValue(raw []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return string(raw), false
	}
	return v, true
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// checkShape compares v (decoded JSON) with the type t at field, appending a FieldError for
// each key t does not have and each value of the wrong kind. key is the YAML key of field,
// for the examples in the messages.
func checkShape(field, key string, v any, t reflect.Type, errs *[]error) {
	fail := func(format string, args ...any) {
		*errs = append(*errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	if v == nil {
		return // null: the default stays
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct && reflect.PointerTo(t).Implements(unmarshalerType) {
		// A struct with a short form (ImageEntry): text, or the object.
		if _, ok := v.(string); ok {
			return
		}
		if _, ok := v.(map[string]any); !ok {
			fail("expected text or an object, got %s", describeValue(v))
			return
		}
	}
	switch t.Kind() {
	case reflect.Interface:
		return // any YAML (talos.patches)
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			fail("expected an object (indented `name: value` lines under %s:), got %s", key, describeValue(v))
			return
		}
		fields := jsonFields(t)
		names := make([]string, len(fields))
		for i, f := range fields {
			names[i] = f.name
		}
		for _, k := range sortedKeys(m) {
			i := slices.Index(names, k)
			if i < 0 {
				*errs = append(*errs, &FieldError{Field: field + "." + k, Problem: unknownProblem(k, names)})
				continue
			}
			checkShape(field+"."+k, k, m[k], fields[i].typ, errs)
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			fail("expected an object (indented `name: value` lines under %s:), got %s", key, describeValue(v))
			return
		}
		for _, k := range sortedKeys(m) {
			checkShape(field+"."+k, k, m[k], t.Elem(), errs)
		}
	case reflect.Slice:
		l, ok := v.([]any)
		if !ok {
			fail("expected a list (`- item` lines under %s:, or [a, b]), got %s", key, describeValue(v))
			return
		}
		for i, e := range l {
			checkShape(fmt.Sprintf("%s[%d]", field, i), key, e, t.Elem(), errs)
		}
	case reflect.String:
		switch x := v.(type) {
		case string:
		case json.Number:
			fail("expected text, got the number %s: write it in quotes, %s: \"%s\" (YAML reads an unquoted "+
				"number as a number: 1.10 becomes 1.1, so write versions like \"1.10\" in quotes)", x, key, x)
		default:
			fail("expected text (%s: \"...\"), got %s", key, describeValue(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			fail("expected true or false (%s: true), got %s", key, describeValue(v))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if !ok {
			hint := ""
			if s, isText := v.(string); isText {
				hint = fmt.Sprintf(": write it without quotes, %s: %s", key, s)
			}
			fail("expected a whole number, got %s%s", describeValue(v), hint)
			return
		}
		if _, err := n.Int64(); err != nil {
			fail("expected a whole number, got %s", describeValue(v))
		} else if t.Kind() >= reflect.Uint && strings.HasPrefix(n.String(), "-") {
			fail("expected a number of 0 or more, got %s", n)
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			fail("expected a number, got %s", describeValue(v))
		}
	}
}

// describeValue names a YAML value's kind and shows it, in YAML terms (never Go's).
func describeValue(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the text %q", x)
	case json.Number:
		return "the number " + x.String()
	case bool:
		return fmt.Sprintf("%v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case nil:
		return "nothing (null)"
	}
	return "a value of another kind"
}

type jsonField struct {
	name string
	typ  reflect.Type
}

// jsonFields are t's fields by their JSON names, embedded structs flattened.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name: name, typ: f.Type})
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// lastKey is the YAML key a field path ends with: registry.nodePort -> nodePort.
func lastKey(field string) string {
	for strings.HasSuffix(field, "]") {
		if i := strings.LastIndex(field, "["); i >= 0 {
			field = field[:i]
		} else {
			break
		}
	}
	if i := strings.LastIndex(field, "."); i >= 0 {
		return field[i+1:]
	}
	return field
}

// friendlyType names a Go type as the YAML a user writes for it.
func friendlyType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "text"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "another kind of value"
}
