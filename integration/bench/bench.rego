# Benchmark policy for osp's `opa` authorization backend (integration/bench/run.sh, policy section).
# The same decisions as the benchmark's `rules` config: principal "bench" may read and list bucket
# "bench", except anything under "secret/". osp POSTs {"input": ...} to /v1/data/osp/allow; see
# integration/policy/osp.rego for the full input shape (account, action, bucket, object, conditions).
package osp

read_actions := {
	"s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectAttributes",
	"s3:GetObjectAcl", "s3:HeadObject",
}

list_actions := {"s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads"}

# The key the request is about: the object, or for listings the listed prefix.
target := input.object if {
	input.object != ""
} else := listed if {
	listed := input.conditions.prefix[0]
} else := ""

default allow := false

allow if {
	input.account == "bench"
	input.bucket == "bench"
	input.action in (read_actions | list_actions)
	not startswith(target, "secret/")
}
