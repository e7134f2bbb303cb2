// Package toxiproxy starts the pinned toxiproxy-server (built by make setup) on loopback and
// drives it through its HTTP API: a proxy in front of an upstream, toxics that throttle, delay
// and cut it, and the link switched off and on. The day-2 e2e tests and tests/bench share it
// as the factory's link between the office and the site's push endpoint.
package toxiproxy
