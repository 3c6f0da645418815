# Plans and applies the module against a mocked AWS provider: no network,
# no credentials. Run with `terraform test` in modules/bucket.

mock_provider "aws" {}

variables {
  name = "strata-segments-test"
}

run "aws_defaults_block_public_access" {
  command = apply

  assert {
    condition = (
      length(aws_s3_bucket_public_access_block.this) == 1 &&
      aws_s3_bucket_public_access_block.this[0].block_public_acls &&
      aws_s3_bucket_public_access_block.this[0].block_public_policy &&
      aws_s3_bucket_public_access_block.this[0].ignore_public_acls &&
      aws_s3_bucket_public_access_block.this[0].restrict_public_buckets
    )
    error_message = "the bucket must block every form of public access"
  }

  assert {
    condition     = aws_s3_bucket_ownership_controls.this[0].rule[0].object_ownership == "BucketOwnerEnforced"
    error_message = "ACLs must be disabled (BucketOwnerEnforced)"
  }

  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.this[0].rule).apply_server_side_encryption_by_default).sse_algorithm == "AES256"
    error_message = "default encryption must be SSE-S3 without a KMS key"
  }

  assert {
    condition     = aws_s3_bucket_lifecycle_configuration.this[0].rule[0].abort_incomplete_multipart_upload[0].days_after_initiation == 1 && aws_s3_bucket_lifecycle_configuration.this[0].rule[0].status == "Enabled"
    error_message = "the lifecycle rule must abort incomplete multipart uploads after a day"
  }

  assert {
    condition     = jsondecode(aws_s3_bucket_policy.tls_only[0].policy).Statement[0].Condition.Bool["aws:SecureTransport"] == "false" && jsondecode(aws_s3_bucket_policy.tls_only[0].policy).Statement[0].Effect == "Deny"
    error_message = "the bucket policy must deny requests without TLS"
  }

  assert {
    condition     = !aws_s3_bucket.this.force_destroy && length(aws_s3_directory_bucket.express) == 0
    error_message = "force_destroy must default to false and no directory bucket is made by default"
  }

  assert {
    condition     = output.gateway_environment.STRATA_OBJECT_STORE == "s3" && output.gateway_environment.STRATA_S3_BUCKET == "strata-segments-test"
    error_message = "the gateway settings must name the bucket"
  }
}

run "kms_key_uses_sse_kms_with_bucket_key" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:eu-west-1:111122223333:key/0b8f3c1e-1111-2222-3333-444455556666"
  }

  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.this[0].rule).apply_server_side_encryption_by_default).sse_algorithm == "aws:kms" && one(aws_s3_bucket_server_side_encryption_configuration.this[0].rule).bucket_key_enabled
    error_message = "a KMS key must switch to SSE-KMS with an S3 Bucket Key"
  }
}

run "s3_compatible_drops_aws_only_settings" {
  command = plan

  variables {
    s3_compatible = true
  }

  assert {
    condition = (
      length(aws_s3_bucket_public_access_block.this) == 0 &&
      length(aws_s3_bucket_ownership_controls.this) == 0 &&
      length(aws_s3_bucket_server_side_encryption_configuration.this) == 0 &&
      length(aws_s3_bucket_lifecycle_configuration.this) == 0 &&
      length(aws_s3_bucket_policy.tls_only) == 0
    )
    error_message = "s3_compatible must turn off the settings S3-compatible stores do not implement"
  }
}

run "s3_compatible_settings_can_be_turned_back_on" {
  command = plan

  variables {
    s3_compatible     = true
    manage_tls_policy = true
  }

  assert {
    condition     = length(aws_s3_bucket_policy.tls_only) == 1 && length(aws_s3_bucket_public_access_block.this) == 0
    error_message = "manage_tls_policy must override s3_compatible for the policy alone"
  }
}

run "express_one_zone_directory_buckets" {
  command = apply

  variables {
    express_one_zone_az_ids = ["use1-az4", "use1-az5"]
  }

  assert {
    condition     = aws_s3_directory_bucket.express["use1-az4"].bucket == "strata-segments-test--use1-az4--x-s3" && aws_s3_directory_bucket.express["use1-az5"].location[0].name == "use1-az5"
    error_message = "one directory bucket per AZ ID, named <name>--<az-id>--x-s3"
  }

  assert {
    condition     = length(output.express_buckets) == 2
    error_message = "the directory buckets must be in the outputs"
  }
}

run "rejects_bad_names" {
  command = plan

  variables {
    name                    = "Strata_Segments"
    express_one_zone_az_ids = ["us-east-1a"]
  }

  expect_failures = [var.name, var.express_one_zone_az_ids]
}
