package siteconfig

import (
	"fmt"
	"regexp"
)

var (
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)
)

// Validate checks a defaulted config. It returns every problem at once; warnings are advice.
func Validate(c *Config) (warnings []string, err error) {
	v := &validator{}
	if !dnsLabel.MatchString(c.Site) {
		v.fail(KeySite, "%q is not a DNS label (lowercase letters, digits, '-', at most 63)", c.Site)
	}
	v.nodes(c.Nodes)
	v.registry(&c.Registry)
	v.objectStore(c)
	v.talos(c)
	v.images(c)
	if len(v.errs) > 0 {
		return v.warnings, &ValidationError{Errors: v.errs}
	}
	return v.warnings, nil
}

type validator struct {
	errs     []error
	warnings []string
}

func (v *validator) fail(field, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
}

func (v *validator) warn(format string, args ...any) {
	v.warnings = append(v.warnings, fmt.Sprintf(format, args...))
}
