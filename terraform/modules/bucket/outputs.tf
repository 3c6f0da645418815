output "bucket_name" {
  description = "The segment bucket's name: the gateways' --s3-bucket (STRATA_S3_BUCKET)."
  value       = aws_s3_bucket.this.bucket
}

output "bucket_arn" {
  description = "The segment bucket's ARN, for the iam module."
  value       = aws_s3_bucket.this.arn
}

output "region" {
  description = "The bucket's region: the gateways' --s3-region (STRATA_S3_REGION)."
  value       = data.aws_region.current.name
}

output "express_buckets" {
  description = "S3 Express One Zone directory buckets by Availability Zone ID: name and ARN (empty unless express_one_zone_az_ids is set)."
  value       = { for id, b in aws_s3_directory_bucket.express : id => { name = b.bucket, arn = b.arn } }
}

output "gateway_environment" {
  description = "The STRATA_* settings that point a gateway at this bucket."
  value = {
    STRATA_OBJECT_STORE = "s3"
    STRATA_S3_BUCKET    = aws_s3_bucket.this.bucket
    STRATA_S3_REGION    = data.aws_region.current.name
  }
}

output "features" {
  description = "Which bucket settings this module manages (false where s3_compatible turned them off)."
  value = {
    public_access_block = local.manage_public_access_block
    ownership_controls  = local.manage_ownership_controls
    encryption          = local.manage_encryption
    tls_policy          = local.manage_tls_policy
    lifecycle           = local.manage_lifecycle
  }
}
