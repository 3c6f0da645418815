# Applies modules/bucket for real against an S3-compatible endpoint (the MinIO
# server scripts/terraform-check.sh starts on 127.0.0.1), through
# minio.tftest.hcl, which applies, asserts and destroys. Not an example: it
# exists to prove the module's S3 calls work on a store that is not AWS.

terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 6.0"
    }
  }
}

variable "s3_endpoint" {
  description = "Base URL of the S3-compatible store, such as http://127.0.0.1:9000."
  type        = string

  validation {
    condition     = can(regex("^https?://", var.s3_endpoint))
    error_message = "s3_endpoint must be an http:// or https:// URL."
  }
}

variable "access_key" {
  type = string
}

variable "secret_key" {
  type      = string
  sensitive = true
}

variable "bucket_name" {
  type    = string
  default = "strata-tf-check"
}

provider "aws" {
  region     = "us-east-1"
  access_key = var.access_key
  secret_key = var.secret_key

  # Nothing here is AWS: no STS to validate credentials against, no instance
  # metadata, no region list, no account id.
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  skip_requesting_account_id  = true
  s3_use_path_style           = true

  endpoints {
    s3 = var.s3_endpoint
  }
}

module "bucket" {
  source = "../../modules/bucket"

  name          = var.bucket_name
  s3_compatible = true
  force_destroy = true
  # MinIO implements bucket policies, including the aws:SecureTransport
  # condition, so the TLS-only policy is applied here too.
  manage_tls_policy = true
  tags              = { "strata-check" = "minio" }
}

output "bucket_name" {
  value = module.bucket.bucket_name
}

output "features" {
  value = module.bucket.features
}
