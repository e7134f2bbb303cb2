// Package site is the Pulumi program of one factory site: it loads and validates the stack
// config, then composes the object store and the registry inside one Site component.
package site
