// Package checks holds the air-gap invariants of the policy pack as pure functions over plain
// Go values (maps decoded from resource properties), so each is table-tested without the
// engine. Each returns the violations it finds as messages that say what is wrong and how to
// fix it; an empty result means the object passes.
package checks
