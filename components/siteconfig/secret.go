package siteconfig

// Secret holds a sensitive value read from encrypted stack config. It never prints: fmt verbs
// and JSON show a placeholder, so a Config can be logged or dumped safely. Reveal returns the
// value for the one place that must hand it to Pulumi as a secret output.
type Secret struct{ value string }

// NewSecret wraps a sensitive value.
func NewSecret(v string) Secret { return Secret{value: v} }

// Reveal returns the plaintext. Callers pass it straight to pulumi.ToSecret.
func (s Secret) Reveal() string { return s.value }

// IsZero reports whether no value was set.
func (s Secret) IsZero() bool { return s.value == "" }

const redacted = "[secret]"

func (s Secret) String() string {
	if s.IsZero() {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return "siteconfig.Secret{" + s.String() + "}" }

// MarshalJSON keeps encoders from printing the value.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }
