package minio

import (
	"encoding/json"
	"fmt"
)

// Access is what a registry endpoint may do on its bucket.
type Access int

const (
	// ReadOnly is the pull endpoints': list the bucket and read objects.
	ReadOnly Access = iota
	// ReadWrite is the push endpoint's: also write and delete objects and run multipart
	// uploads (what distribution's S3 driver uses), still on the one bucket only.
	ReadWrite
)

func (a Access) String() string {
	if a == ReadWrite {
		return "read-write"
	}
	return "read-only"
}

// Actions of each access level, on the bucket and on its objects.
var (
	readBucketActions  = []string{"s3:GetBucketLocation", "s3:ListBucket"}
	readObjectActions  = []string{"s3:GetObject"}
	writeBucketActions = []string{"s3:ListBucketMultipartUploads"}
	writeObjectActions = []string{"s3:AbortMultipartUpload", "s3:DeleteObject", "s3:ListMultipartUploadParts", "s3:PutObject"}
)

type policyDocument struct {
	Version   string            `json:"Version"`
	Statement []policyStatement `json:"Statement"`
}

type policyStatement struct {
	Effect   string   `json:"Effect"`
	Action   []string `json:"Action"`
	Resource []string `json:"Resource"`
}

// Policy renders the IAM policy JSON that allows access on bucket and nothing else: the
// bucket's own actions on arn:aws:s3:::<bucket>, the object actions on its objects.
func Policy(bucket string, access Access) (string, error) {
	if bucket == "" {
		return "", fmt.Errorf("rendering %s policy: bucket is empty", access)
	}
	bucketActions, objectActions := readBucketActions, readObjectActions
	if access == ReadWrite {
		bucketActions = append(append([]string{}, readBucketActions...), writeBucketActions...)
		objectActions = append(append([]string{}, readObjectActions...), writeObjectActions...)
	}
	arn := "arn:aws:s3:::" + bucket
	b, err := json.MarshalIndent(policyDocument{
		Version: "2012-10-17",
		Statement: []policyStatement{
			{Effect: "Allow", Action: bucketActions, Resource: []string{arn}},
			{Effect: "Allow", Action: objectActions, Resource: []string{arn + "/*"}},
		},
	}, "", "  ")
	if err != nil {
		return "", fmt.Errorf("rendering %s policy for bucket %q: %w", access, bucket, err)
	}
	return string(b) + "\n", nil
}

// PolicyName is the name of the MinIO policy giving access on bucket.
func PolicyName(bucket string, access Access) string {
	return "airgap-registry-" + bucket + "-" + access.String()
}
