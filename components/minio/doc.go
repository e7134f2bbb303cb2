// Package minio declares a MinIO tenant's registry users through pulumi-minio's resource
// tokens (bindings.go; its Go SDK is not served by the module proxy, the plugin is installed
// at the office like pulumi-talos): an explicit provider that holds the tenant's root
// credentials as secrets, a push user allowed to read and write the bucket, a pull user
// allowed only to read it, their bucket-scoped policies (Policy, pure and golden tested) and
// the attachments. contract_test.go checks every property sent against pulumi-minio v0.17.1's
// schema.
package minio
