package contract

import (
	"reflect"
	"testing"
)

// byFlag names the properties with a flag, in order.
func byFlag(props []Property, flag func(Property) bool) []string {
	var out []string
	for _, p := range props {
		if flag(p) {
			out = append(out, p.Name)
		}
	}
	return out
}

func required(p Property) bool { return p.Required }
func replace(p Property) bool  { return p.Replace }

// TestAccessResources pins what decides the engine's behaviour: what is required, what is
// kept encrypted and what makes a new CA, certificate or password.
func TestAccessResources(t *testing.T) {
	cases := []struct {
		r                          Resource
		required, replace, secrets []string
		outputs                    []string
	}{
		{
			r:        CertificateAuthority,
			required: []string{"commonName"},
			replace:  []string{"commonName", "validityDays", "generation"},
			secrets:  []string{"keyPem"},
			outputs:  []string{"certPem", "keyPem", "notAfter"},
		},
		{
			r:        Certificate,
			required: []string{"caCertPem", "caKeyPem", "commonName"},
			// renewBeforeDays only decides when the next certificate is due.
			replace: []string{"caCertPem", "caKeyPem", "commonName", "ipAddresses", "dnsNames", "validityDays"},
			secrets: []string{"caKeyPem", "keyPem"},
			outputs: []string{"certPem", "keyPem", "notAfter"},
		},
		{
			r:        Password,
			required: []string{"username"},
			// A new generation rotates in place, from the seed (known at preview).
			replace: []string{"username", "length"},
			secrets: []string{"result", "htpasswd", "seed"},
			outputs: []string{"result", "htpasswd", "seed"},
		},
	}
	for _, c := range cases {
		check := func(what string, got, want []string) {
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %s = %v, want %v", c.r.Token, what, got, want)
			}
		}
		check("required inputs", byFlag(c.r.Inputs, required), c.required)
		check("replace-on-change inputs", byFlag(c.r.Inputs, replace), c.replace)
		check("secrets", c.r.Secrets(), c.secrets)
		check("outputs", byFlag(c.r.Outputs, func(Property) bool { return true }), c.outputs)
		check("replace-on-change outputs", byFlag(c.r.Outputs, replace), nil)
	}
	for _, p := range Certificate.Inputs {
		if (p.Name == "ipAddresses" || p.Name == "dnsNames") && (p.Type != "array" || p.Items != "string") {
			t.Errorf("%s is not an array of strings: %+v", p.Name, p)
		}
	}
}
