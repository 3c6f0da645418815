# The segment bucket: Strata's system of record. Every object is written once
# (PutObject with If-None-Match: *) and never modified; compaction writes new
# objects and deletes old ones after a grace period, so versioning is left
# off (it would only keep deleted segments around).

locals {
  manage_public_access_block = coalesce(var.manage_public_access_block, !var.s3_compatible)
  manage_ownership_controls  = coalesce(var.manage_ownership_controls, !var.s3_compatible)
  manage_encryption          = coalesce(var.manage_encryption, !var.s3_compatible)
  manage_tls_policy          = coalesce(var.manage_tls_policy, !var.s3_compatible)
  manage_lifecycle           = coalesce(var.manage_lifecycle, !var.s3_compatible)

  # Directory bucket names are <base>--<az-id>--x-s3, at most 63 characters.
  express_buckets = { for id in var.express_one_zone_az_ids : id => "${var.name}--${id}--x-s3" }
}

resource "aws_s3_bucket" "this" {
  bucket        = var.name
  force_destroy = var.force_destroy
  tags          = var.tags

  lifecycle {
    precondition {
      condition     = alltrue([for n in values(local.express_buckets) : length(n) <= 63])
      error_message = "Directory bucket names <name>--<az-id>--x-s3 must be at most 63 characters: shorten name."
    }
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  count = local.manage_public_access_block ? 1 : 0

  bucket                  = aws_s3_bucket.this.bucket
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  count = local.manage_ownership_controls ? 1 : 0

  bucket = aws_s3_bucket.this.bucket
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  count = local.manage_encryption ? 1 : 0

  bucket = aws_s3_bucket.this.bucket
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = var.kms_key_arn != null
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  count = local.manage_lifecycle ? 1 : 0

  bucket = aws_s3_bucket.this.bucket
  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_upload_days
    }
  }
}

resource "aws_s3_bucket_policy" "tls_only" {
  count = local.manage_tls_policy ? 1 : 0

  bucket = aws_s3_bucket.this.bucket
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })

  # A bucket policy set before the public access block could be judged
  # public for a moment; order them.
  depends_on = [aws_s3_bucket_public_access_block.this]
}

# S3 Express One Zone: single-AZ directory buckets with single-digit
# millisecond latency. AWS blocks public access, disables ACLs and encrypts
# with SSE-S3 on every directory bucket; there is nothing to switch on.
resource "aws_s3_directory_bucket" "express" {
  for_each = local.express_buckets

  bucket        = each.value
  force_destroy = var.force_destroy
  type          = "Directory"
  location {
    name = each.key
    type = "AvailabilityZone"
  }
}

data "aws_region" "current" {}
