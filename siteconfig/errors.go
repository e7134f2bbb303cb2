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

// Names reports whether a problem is reported on path, on a field inside it, or on a field
// that contains it (registry names registry.image and the reverse).
func (e *ValidationError) Names(path string) bool {
	for _, err := range e.Errors {
		if fe, ok := err.(*FieldError); ok && (within(fe.Field, path) || within(path, fe.Field)) {
			return true
		}
	}
	return false
}

// WithProblems adds more problems to err (a *ValidationError, or nil) in one report.
func WithProblems(err error, more []error) error {
	if len(more) == 0 {
		return err
	}
	var all []error
	if verr, ok := err.(*ValidationError); ok {
		all = append(all, verr.Errors...)
	} else if err != nil {
		all = append(all, err)
	}
	return &ValidationError{Errors: append(all, more...)}
}
