package nodowngrade

import (
	"fmt"
	"net/http"
	"strings"
)

// PlainHTTP are the registries explicitly configured as plain http.
type PlainHTTP struct {
	// Hosts are host[:port] as a request's URL spells them (go-containerregistry's
	// Registry.RegistryStr()), compared without regard to case.
	Hosts []string
	// Setting names how an operator marks a registry as plain http, for the error
	// (e.g. "airgap bundle --insecure-registry HOST").
	Setting string
}

func (p PlainHTTP) allows(host string) bool {
	for _, h := range p.Hosts {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// Transport returns next with the rule applied: a request whose URL scheme is not https fails
// with an *Error before next sees it, unless its host is one of plain.Hosts.
func Transport(next http.RoundTripper, plain PlainHTTP) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{next: next, plain: plain}
}

type transport struct {
	next  http.RoundTripper
	plain PlainHTTP
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" && !t.plain.allows(r.URL.Host) {
		if r.Body != nil {
			r.Body.Close() // a RoundTripper closes the body, even on errors
		}
		return nil, &Error{Scheme: r.URL.Scheme, Host: r.URL.Host, Setting: t.plain.Setting}
	}
	return t.next.RoundTrip(r)
}

// Error is a request refused because its registry is not configured as plain http.
type Error struct {
	Scheme, Host string
	// Setting is how to configure the registry as plain http, if it really is.
	Setting string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("refusing plain %s to %s: the registry is not configured as plain http", e.Scheme, e.Host)
	if e.Setting != "" {
		s += " (set by " + e.Setting + ")"
	}
	return s + "; nothing was sent"
}
