package siteconfig

import "regexp"

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

// Keys of the pull endpoint's S3 identity: read-only on the bucket (see Secrets.PullKeys).
const (
	KeyS3PullAccessKey = "s3PullAccessKey"
	KeyS3PullSecretKey = "s3PullSecretKey"
)

// Secrets are read from encrypted top-level keys, never from the objects above.
type Secrets struct {
	// S3AccessKey and S3SecretKey are the push endpoint's S3 identity, the only one that
	// writes the bucket.
	S3AccessKey Secret `json:"s3AccessKey"`
	S3SecretKey Secret `json:"s3SecretKey"`
	// S3PullAccessKey and S3PullSecretKey are the pull endpoints' identity, which the S3
	// server must allow to read the bucket and nothing else.
	S3PullAccessKey    Secret `json:"s3PullAccessKey"`
	S3PullSecretKey    Secret `json:"s3PullSecretKey"`
	MinioRootUser      Secret `json:"minioRootUser"`
	MinioRootPassword  Secret `json:"minioRootPassword"`
	RegistryHTTPSecret Secret `json:"registryHttpSecret"`
}

func (v *validator) secret(key string, s Secret, minLen int) {
	switch {
	case s.IsZero():
		v.fail(key, "required: set it with `pulumi config set --secret %s <value>`", key)
	case len(s.Reveal()) < minLen:
		v.fail(key, "too short: at least %d characters", minLen)
	case plainWord.MatchString(s.Reveal()):
		v.warn("%s is a plain word: Pulumi hides every occurrence of a secret's value in its output, so every "+
			"%q in previews and logs becomes [secret]; set a value of its own, e.g. with a random suffix", key, s.Reveal())
	}
}

// plainWord is a secret value that is one word of letters, likely to occur in the output.
var plainWord = regexp.MustCompile(`^[A-Za-z]{1,16}$`)

func (s *Secrets) byKey() map[string]*Secret {
	return map[string]*Secret{
		KeyS3AccessKey:        &s.S3AccessKey,
		KeyS3SecretKey:        &s.S3SecretKey,
		KeyS3PullAccessKey:    &s.S3PullAccessKey,
		KeyS3PullSecretKey:    &s.S3PullSecretKey,
		KeyMinioRootUser:      &s.MinioRootUser,
		KeyMinioRootPassword:  &s.MinioRootPassword,
		KeyRegistryHTTPSecret: &s.RegistryHTTPSecret,
	}
}
