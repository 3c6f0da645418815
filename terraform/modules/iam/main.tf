# Two roles over the segment bucket, each granting exactly the S3 calls Strata
# makes (tiered/objstore/s3):
#
#   call                     action            resource        who
#   PutObject (If-None-Match: *)  s3:PutObject  bucket/*        gateways
#   GetObject (ranged)       s3:GetObject      bucket/*        gateways, readers
#   HeadObject               s3:GetObject      bucket/*        gateways, readers
#   DeleteObject             s3:DeleteObject   bucket/*        gateways (compaction, retention, GC)
#   ListObjectsV2            s3:ListBucket     bucket          gateways, readers
#   HeadBucket               s3:ListBucket     bucket          gateways, readers
#
# s3:ListBucket also makes S3 answer 404 rather than 403 for a missing key,
# which Strata relies on (objstore.ErrNotExist). Strata writes every object
# with one PutObject (at most 5 GiB), so no
# multipart permission is granted; CreateBucket (--s3-create-bucket) is not
# granted either: Terraform owns the bucket. The policies are built with
# jsonencode rather than aws_iam_policy_document so that tests can read them
# without a real provider.

locals {
  objects_arn = "${var.bucket_arn}/*"

  # strata replay's exports go elsewhere: the reader never writes segments.
  exports_outside_bucket = alltrue([for p in var.reader_export_prefixes : !startswith(p, "${var.bucket_arn}/")])

  # s3:if-none-match is present only on a request carrying If-None-Match.
  put_condition = var.require_conditional_writes ? { Null = { "s3:if-none-match" = "false" } } : null

  gateway_statements = concat(
    [
      {
        Sid      = "ListSegments"
        Effect   = "Allow"
        Action   = ["s3:ListBucket"]
        Resource = [var.bucket_arn]
      },
      {
        Sid      = "ReadAndDeleteSegments"
        Effect   = "Allow"
        Action   = ["s3:DeleteObject", "s3:GetObject"]
        Resource = [local.objects_arn]
      },
      merge(
        {
          Sid      = "CreateSegments"
          Effect   = "Allow"
          Action   = ["s3:PutObject"]
          Resource = [local.objects_arn]
        },
        local.put_condition == null ? {} : { Condition = local.put_condition },
      ),
    ],
    length(var.express_bucket_arns) == 0 ? [] : [{
      Sid      = "ExpressSessions"
      Effect   = "Allow"
      Action   = ["s3express:CreateSession"]
      Resource = var.express_bucket_arns
    }],
    var.kms_key_arn == null ? [] : [{
      Sid       = "SegmentEncryption"
      Effect    = "Allow"
      Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
      Resource  = [var.kms_key_arn]
      Condition = { StringLike = { "kms:ViaService" = "s3.*.amazonaws.com" } }
    }],
  )

  reader_statements = concat(
    [
      {
        Sid      = "ListSegments"
        Effect   = "Allow"
        Action   = ["s3:ListBucket"]
        Resource = [var.bucket_arn]
      },
      {
        Sid      = "ReadSegments"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = [local.objects_arn]
      },
    ],
    length(var.express_bucket_arns) == 0 ? [] : [{
      Sid       = "ExpressReadOnlySessions"
      Effect    = "Allow"
      Action    = ["s3express:CreateSession"]
      Resource  = var.express_bucket_arns
      Condition = { StringEquals = { "s3express:SessionMode" = "ReadOnly" } }
    }],
    length(var.reader_export_prefixes) == 0 ? [] : [merge(
      {
        Sid      = "CreateExports"
        Effect   = "Allow"
        Action   = ["s3:PutObject"]
        Resource = [for p in var.reader_export_prefixes : "${p}/*"]
      },
      local.put_condition == null ? {} : { Condition = local.put_condition },
    )],
    var.kms_key_arn == null ? [] : [{
      Sid       = "SegmentDecryption"
      Effect    = "Allow"
      Action    = ["kms:Decrypt"]
      Resource  = [var.kms_key_arn]
      Condition = { StringLike = { "kms:ViaService" = "s3.*.amazonaws.com" } }
    }],
  )

  gateway_policy = jsonencode({ Version = "2012-10-17", Statement = local.gateway_statements })
  reader_policy  = jsonencode({ Version = "2012-10-17", Statement = local.reader_statements })

  reader_principals = merge(
    { Service = var.reader_trusted_services },
    length(var.reader_trusted_principal_arns) == 0 ? {} : { AWS = var.reader_trusted_principal_arns },
  )
}

resource "aws_iam_role" "gateway" {
  name        = "${var.name}-gateway"
  description = "Strata gateways: read, create-only write and delete of the segment bucket's objects"
  tags        = var.tags
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = var.gateway_trusted_services }
    }]
  })
}

resource "aws_iam_role_policy" "gateway" {
  name   = "strata-segments"
  role   = aws_iam_role.gateway.id
  policy = local.gateway_policy
}

resource "aws_iam_instance_profile" "gateway" {
  name = "${var.name}-gateway"
  role = aws_iam_role.gateway.name
  tags = var.tags
}

resource "aws_iam_role" "reader" {
  name        = "${var.name}-reader"
  description = "strata replay and analytics: read-only access to the segment bucket"
  tags        = var.tags
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = local.reader_principals
    }]
  })
}

resource "aws_iam_role_policy" "reader" {
  name   = "strata-segments-read-only"
  role   = aws_iam_role.reader.id
  policy = local.reader_policy

  lifecycle {
    precondition {
      condition     = local.exports_outside_bucket
      error_message = "reader_export_prefixes must not point into the segment bucket: the reader role is read-only there."
    }
  }
}

resource "aws_iam_instance_profile" "reader" {
  name = "${var.name}-reader"
  role = aws_iam_role.reader.name
  tags = var.tags
}
