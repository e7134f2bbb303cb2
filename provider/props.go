package provider

import (
	"encoding/json"
	"reflect"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"airgap-site/provider/contract"
)

// decode sets the fields of dst, a contract struct, from the engine's values and returns the
// names of the properties not known yet (preview). Secrets are unwrapped: the provider needs
// their values, and the state keeps them secret because Create returns the inputs as they came.
// A value of the wrong type reads as the zero value, which validate reports as missing.
func decode[T any](m resource.PropertyMap, props []contract.Property, dst *T) (unknown []string) {
	v := reflect.ValueOf(dst).Elem()
	for _, p := range props {
		if !set(v.FieldByIndex(p.Field), m[resource.PropertyKey(p.Name)]) {
			unknown = append(unknown, p.Name)
		}
	}
	return unknown
}

// set stores pv in f and reports whether pv was known.
func set(f reflect.Value, pv resource.PropertyValue) bool {
	pv, known := resolve(pv)
	if !known {
		return false
	}
	switch {
	case f.Kind() == reflect.String && pv.IsString():
		f.SetString(pv.StringValue())
	case f.Kind() == reflect.Bool && pv.IsBool():
		f.SetBool(pv.BoolValue())
	case f.Kind() == reflect.Int && pv.IsNumber():
		f.SetInt(int64(pv.NumberValue()))
	case f.Kind() == reflect.Float64 && pv.IsNumber():
		f.SetFloat(pv.NumberValue())
	case f.Kind() == reflect.Map && pv.IsObject():
		m := reflect.MakeMapWithSize(f.Type(), len(pv.ObjectValue()))
		for k, e := range pv.ObjectValue() {
			ev := reflect.New(f.Type().Elem()).Elem()
			if !set(ev, e) {
				return false
			}
			m.SetMapIndex(reflect.ValueOf(string(k)), ev)
		}
		f.Set(m)
	case f.Kind() != reflect.String && pv.IsString() && f.CanAddr():
		// A provider's setting may come JSON-encoded (the engine's form of a non-string
		// config value); one that does not read stays the zero value, which validate reports.
		_ = json.Unmarshal([]byte(pv.StringValue()), f.Addr().Interface())
	case f.Kind() == reflect.Slice && pv.IsArray():
		s := reflect.MakeSlice(f.Type(), 0, len(pv.ArrayValue()))
		for _, e := range pv.ArrayValue() {
			ev := reflect.New(f.Type().Elem()).Elem()
			if !set(ev, e) {
				return false
			}
			s = reflect.Append(s, ev)
		}
		f.Set(s)
	}
	return true
}

// resolve unwraps secrets and known outputs; known is false for a computed value or an
// unknown output.
func resolve(pv resource.PropertyValue) (v resource.PropertyValue, known bool) {
	for {
		switch {
		case pv.IsSecret():
			pv = pv.SecretValue().Element
		case pv.IsComputed():
			return pv, false
		case pv.IsOutput():
			if !pv.OutputValue().Known {
				return pv, false
			}
			pv = pv.OutputValue().Element
		default:
			return pv, true
		}
	}
}

// state is a resource's state decoded: its inputs A, its outputs O and the inputs not known
// yet (preview).
type state[A, O any] struct {
	In      A
	Out     O
	unknown []string
}

// decodeState decodes m, the state (or the inputs) of r.
func decodeState[A, O any](m resource.PropertyMap, r contract.Resource) state[A, O] {
	var st state[A, O]
	st.unknown = decode(m, r.Inputs, &st.In)
	decode(m, r.Outputs, &st.Out)
	return st
}

// encode is decode's inverse: the fields of src, a contract struct, as engine values.
func encode[T any](props []contract.Property, src T) resource.PropertyMap {
	v := reflect.ValueOf(src)
	m := resource.PropertyMap{}
	for _, p := range props {
		pv := value(v.FieldByIndex(p.Field))
		if p.Secret {
			pv = resource.MakeSecret(pv)
		}
		m[resource.PropertyKey(p.Name)] = pv
	}
	return m
}

func value(f reflect.Value) resource.PropertyValue {
	switch f.Kind() {
	case reflect.String:
		return resource.NewStringProperty(f.String())
	case reflect.Bool:
		return resource.NewBoolProperty(f.Bool())
	case reflect.Int:
		return resource.NewNumberProperty(float64(f.Int()))
	case reflect.Float64:
		return resource.NewNumberProperty(f.Float())
	case reflect.Map:
		m := resource.PropertyMap{}
		for _, k := range f.MapKeys() {
			m[resource.PropertyKey(k.String())] = value(f.MapIndex(k))
		}
		return resource.NewObjectProperty(m)
	case reflect.Slice:
		// Never null: an empty list is a value (the engine drops nulls from the state).
		elems := make([]resource.PropertyValue, f.Len())
		for i := range elems {
			elems[i] = value(f.Index(i))
		}
		return resource.NewArrayProperty(elems)
	}
	return resource.NewNullProperty()
}
