// Package signing signs and verifies blobs in cosign's formats, offline: keys as
// `cosign generate-key-pair` writes them (an encrypted private key, a PEM public key) and
// signatures as `cosign sign-blob --key` writes them (base64 of an ASN.1 ECDSA signature over
// the blob's SHA-256), so that a signature made here verifies with
// `cosign verify-blob --key cosign.pub --signature <file> --insecure-ignore-tlog=true`, and one
// made with an existing cosign key verifies here. No transparency log, no certificate
// authority: trust is the list of public keys a site pins.
package signing
