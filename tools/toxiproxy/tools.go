//go:build tools

// Package tools pins the main packages this wrapper module builds.
package tools

import (
	_ "github.com/Shopify/toxiproxy/v2/cmd/server"
)
