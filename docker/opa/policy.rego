# The compose demo's policy (docker/docker-compose.yml, service `opa`): prefix grants with an
# exception carved out of them, in the shape of integration/policy/osp.rego.
#
# osp (authorization.backend: opa) POSTs {"input": ...} to /v1/data/osp/allow. The input is a
# superset of MinIO's policy-plugin input: account (= principal), groups, action ("s3:GetObject"),
# bucket, object ("" for bucket-level requests), conditions (each value a list of strings, e.g.
# {"prefix": ["team/"]} for a listing), plus principal and request {method, path, query, headers}.
#
# What the demo's two users may do (principals and groups come from their Redis keys, see
# docker/redis/seed.sh):
#
#   alice (groups team, readers)  demo/team/          read, write, list
#                                 demo/team/secret/   nothing: the exception beats the grant
#                                 demo/shared/        read, list (as a reader)
#                                 alice-scratch       the whole bucket, including creating it
#   bob   (group readers)         demo/shared/        read, list; writing there is refused
#   anyone else, anything else    refused (default deny)
#
# Answers: false (deny), true (allow), or {"allow": true, "ttl": N, "scope": {"prefix": P}} for
# reads under demo/shared/: every osp replica then answers every key under P from one callout for
# N seconds.
package osp

# Who gets what: a principal, or "group:NAME"; a bucket; a key prefix ("" = the whole bucket); action groups.
grants := [
	{"who": "alice", "bucket": "demo", "prefix": "team/", "actions": {"read", "write", "list"}},
	{"who": "group:readers", "bucket": "demo", "prefix": "shared/", "actions": {"read", "list"}},
	{"who": "alice", "bucket": "alice-scratch", "prefix": "", "actions": {"read", "write", "list", "bucket"}},
]

# Carved out of the grants: nothing under these prefixes, whatever the grants say.
exceptions := [{"who": "alice", "bucket": "demo", "prefix": "team/secret/"}]

# Reads under these prefixes are answered with a scope.
scoped_reads := [{"bucket": "demo", "prefix": "shared/", "ttl": 60}]

action_groups := {
	"read": {
		"s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectAttributes",
		"s3:GetObjectAcl",
	},
	"write": {
		"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
		"s3:PutObjectTagging", "s3:DeleteObjectTagging",
	},
	"list": {"s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads"},
	"bucket": {"s3:CreateBucket", "s3:DeleteBucket", "s3:GetBucketLocation"},
}

# The key the request is about: the object, or for listings the listed prefix ("" = whole bucket).
target := input.object if {
	input.object != ""
} else := listed if {
	listed := input.conditions.prefix[0]
} else := ""

identities contains input.account

identities contains sprintf("group:%s", [group]) if {
	some group in input.groups
}

# Whether `rule` (a grant or an exception) names the caller, the bucket and a prefix of the target.
applies(rule) if {
	rule.who in identities
	rule.bucket == input.bucket
	startswith(target, rule.prefix)
}

granted if {
	some grant in grants
	applies(grant)
	some group in grant.actions
	input.action in action_groups[group]
}

excepted if {
	some exception in exceptions
	applies(exception)
}

# A scope may only be claimed where a read grant covers all of it and no exception lies inside it.
scope_is_sound(prefix) if {
	some grant in grants
	grant.who in identities
	grant.bucket == input.bucket
	"read" in grant.actions
	startswith(prefix, grant.prefix)
	not exception_inside(prefix)
}

exception_inside(prefix) if {
	some exception in exceptions
	exception.who in identities
	exception.bucket == input.bucket
	startswith(exception.prefix, prefix)
}

default allow := false

allow := {"allow": true, "ttl": scoped.ttl, "scope": {"prefix": scoped.prefix}} if {
	granted
	not excepted
	input.action in action_groups.read
	some scoped in scoped_reads
	scoped.bucket == input.bucket
	startswith(target, scoped.prefix)
	scope_is_sound(scoped.prefix)
} else := true if {
	granted
	not excepted
}
