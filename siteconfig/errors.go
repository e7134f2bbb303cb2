package siteconfig

import "strings"

// FieldError is a problem with one field of the stack config. Field is the path as written in
// stacks/Pulumi.<site>.yaml, e.g. nodes[1].ip.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// ValidationError collects every problem found, so one run shows them all.
type ValidationError struct {
	Errors []error
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid site configuration (nothing was changed):")
	for _, err := range e.Errors {
		b.WriteString("\n  - ")
		b.WriteString(err.Error())
	}
	return b.String()
}

// Unwrap lets errors.As find each FieldError.
func (e *ValidationError) Unwrap() []error { return e.Errors }
