# The policies are plain JSON built in locals, so these assertions read the
# exact documents AWS would get. No network, no credentials.

mock_provider "aws" {}

variables {
  name       = "strata-test"
  bucket_arn = "arn:aws:s3:::strata-segments-test"
}

run "gateway_policy_is_limited_to_the_bucket" {
  command = apply

  assert {
    condition = alltrue([
      for s in jsondecode(output.gateway_policy_json).Statement :
      alltrue([for r in s.Resource : r == var.bucket_arn || r == "${var.bucket_arn}/*"])
    ])
    error_message = "every gateway statement must name only the bucket or its objects"
  }

  assert {
    condition     = alltrue([for s in jsondecode(output.gateway_policy_json).Statement : s.Effect == "Allow" && !contains(s.Action, "*") && !contains(s.Action, "s3:*")])
    error_message = "no wildcard actions"
  }

  assert {
    condition = toset(flatten([for s in jsondecode(output.gateway_policy_json).Statement : s.Action])) == toset(
      ["s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    )
    error_message = "the gateways get exactly ListBucket, GetObject, PutObject and DeleteObject (no multipart, no bucket administration)"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(output.gateway_policy_json).Statement :
      contains(s.Action, "s3:ListBucket") ? s.Resource == [var.bucket_arn] : s.Resource == ["${var.bucket_arn}/*"]
    ])
    error_message = "ListBucket applies to the bucket, object actions to its objects only"
  }

  assert {
    condition = one([
      for s in jsondecode(output.gateway_policy_json).Statement : s if contains(s.Action, "s3:PutObject")
    ]).Condition.Null["s3:if-none-match"] == "false"
    error_message = "PutObject must require If-None-Match (create-only writes)"
  }

  assert {
    condition     = aws_iam_role_policy.gateway.role == aws_iam_role.gateway.id && aws_iam_instance_profile.gateway.role == aws_iam_role.gateway.name
    error_message = "the policy and the instance profile must belong to the gateway role"
  }

  assert {
    condition     = jsondecode(aws_iam_role.gateway.assume_role_policy).Statement[0].Principal.Service == ["ec2.amazonaws.com"]
    error_message = "only EC2 may assume the gateway role by default"
  }
}

run "reader_policy_is_read_only" {
  command = apply

  assert {
    condition     = toset(flatten([for s in jsondecode(output.reader_policy_json).Statement : s.Action])) == toset(["s3:ListBucket", "s3:GetObject"])
    error_message = "the reader role may only list and read"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(output.reader_policy_json).Statement :
      alltrue([for r in s.Resource : r == var.bucket_arn || r == "${var.bucket_arn}/*"])
    ])
    error_message = "every reader statement must name only the bucket or its objects"
  }
}

run "kms_and_express_additions_stay_scoped" {
  command = apply

  variables {
    kms_key_arn         = "arn:aws:kms:us-east-1:111122223333:key/0b8f3c1e-1111-2222-3333-444455556666"
    express_bucket_arns = ["arn:aws:s3express:us-east-1:111122223333:bucket/strata-segments-test--use1-az4--x-s3"]
  }

  assert {
    condition = alltrue([
      for s in jsondecode(output.gateway_policy_json).Statement :
      alltrue([for r in s.Resource : contains([var.bucket_arn, "${var.bucket_arn}/*", var.kms_key_arn], r) || contains(var.express_bucket_arns, r)])
    ])
    error_message = "KMS and S3 Express statements must name only the given key and directory buckets"
  }

  assert {
    condition     = one([for s in jsondecode(output.reader_policy_json).Statement : s if contains(s.Action, "s3express:CreateSession")]).Condition.StringEquals["s3express:SessionMode"] == "ReadOnly"
    error_message = "the reader may only open read-only S3 Express sessions"
  }

  assert {
    condition     = toset(one([for s in jsondecode(output.reader_policy_json).Statement : s if s.Sid == "SegmentDecryption"]).Action) == toset(["kms:Decrypt"])
    error_message = "the reader may only decrypt"
  }
}

run "reader_exports_go_elsewhere" {
  command = apply

  variables {
    reader_export_prefixes = ["arn:aws:s3:::analytics-exports/strata"]
  }

  assert {
    condition     = one([for s in jsondecode(output.reader_policy_json).Statement : s if contains(s.Action, "s3:PutObject")]).Resource == ["arn:aws:s3:::analytics-exports/strata/*"]
    error_message = "the reader may create objects only under the export prefix"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(output.reader_policy_json).Statement :
      alltrue([for r in s.Resource : r == var.bucket_arn || r == "${var.bucket_arn}/*"]) if !contains(s.Action, "s3:PutObject")
    ]) && !contains(flatten([for s in jsondecode(output.reader_policy_json).Statement : s.Resource if contains(s.Action, "s3:PutObject")]), "${var.bucket_arn}/*")
    error_message = "the reader still cannot write to the segment bucket"
  }
}

run "rejects_exports_into_the_segment_bucket" {
  command = plan

  variables {
    reader_export_prefixes = ["arn:aws:s3:::strata-segments-test/exports"]
  }

  expect_failures = [aws_iam_role_policy.reader]
}

run "rejects_wildcard_bucket" {
  command = plan

  variables {
    bucket_arn = "arn:aws:s3:::*"
  }

  expect_failures = [var.bucket_arn]
}
