// Package nodowngrade is the one home of the rule that a registry client never falls back from
// https to plain http on its own.
//
// go-containerregistry treats loopback, localhost and RFC 1918 hosts (every factory LAN) as
// "may fall back to http": when the https ping fails (a spoofer's certificate, a reset, a
// listener that answers plain http) it tries http, and sends the credentials it has in the
// clear. There is no https-only option, so Transport wraps the RoundTripper every request goes
// through (the ping's too) and refuses, before anything is sent, any request whose scheme is
// not https unless its host is one the operator explicitly configured as plain http
// (registry.plainHTTP at the site, `airgap bundle --insecure-registry` at the office).
//
// Every registry client of this repository (the airgap provider and the puller of
// `airgap bundle`) builds its transport with Transport. A refused request is an *Error; it
// says nothing about whether trying again could help: the https failure next to it does.
package nodowngrade
