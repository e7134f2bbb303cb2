// Package sitecontract is the stack's own contract: what the site program promises to anyone
// who reads a stack from outside it. The project name (also the config namespace and the
// part-of label), the names of the stack outputs, the labels every Kubernetes object carries,
// the names of the registry's push endpoint and config file, and the type tokens of the
// foreign resources the program declares (pulumi-talos). The program writes them, the policy
// pack, fleet and registrygc read them; each is written once, here, so none of them imports
// the program or its components for a name.
//
// It imports nothing of this repository.
package sitecontract
