# Run by scripts/terraform-check.sh with -var s3_endpoint=... and MinIO's
# credentials. `terraform test` applies for real and destroys at the end.

run "apply_bucket_on_minio" {
  command = apply

  assert {
    condition     = output.bucket_name == var.bucket_name
    error_message = "the bucket was not created under the requested name"
  }

  # What MinIO implements, and so what this run applies: the bucket with
  # tags and force_destroy, and the TLS-only bucket policy. Not applied:
  # the public access block and ownership controls (not implemented),
  # default encryption (needs a KMS configured in MinIO) and the lifecycle
  # rule aborting incomplete multipart uploads (MinIO rejects the rule and
  # expires stale uploads by itself).
  assert {
    condition     = output.features.tls_policy && !output.features.lifecycle && !output.features.public_access_block && !output.features.ownership_controls && !output.features.encryption
    error_message = "s3_compatible should keep the bucket policy and drop the settings MinIO does not implement"
  }

  assert {
    condition     = module.bucket.bucket_arn == "arn:aws:s3:::${var.bucket_name}"
    error_message = "unexpected bucket ARN"
  }
}
