variable "name" {
  description = "Name of the segment bucket (general purpose S3 bucket)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.name)) && !can(regex("\\.\\.|--x-s3$|^xn--", var.name))
    error_message = "The bucket name must be 3-63 characters of lowercase letters, digits, dots and hyphens, start and end with a letter or digit, and not end in --x-s3."
  }
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the bucket with every segment in it. Leave false in production: the bucket is Strata's system of record."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "KMS key for SSE-KMS (with an S3 Bucket Key, so each gateway asks KMS rarely). Null: SSE-S3 (AES256). Pass the same ARN to the iam module."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:...) or null."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which the lifecycle rule aborts incomplete multipart uploads (Strata writes each object with one PutObject, but other tools writing to the bucket may not)."
  type        = number
  default     = 1

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1 && floor(var.abort_incomplete_multipart_upload_days) == var.abort_incomplete_multipart_upload_days
    error_message = "abort_incomplete_multipart_upload_days must be a whole number of at least 1."
  }
}

variable "s3_compatible" {
  description = "The endpoint is an S3-compatible store (MinIO, Ceph RGW...) rather than AWS: turns off by default the bucket settings such stores do not implement (public access block, ownership controls, default encryption, the multipart-upload lifecycle rule, the TLS-only bucket policy). Each can be turned back on with its manage_* variable."
  type        = bool
  default     = false
}

variable "manage_public_access_block" {
  description = "Create the public access block (all four settings on). Null: on unless s3_compatible."
  type        = bool
  default     = null
}

variable "manage_ownership_controls" {
  description = "Enforce bucket-owner object ownership (ACLs disabled). Null: on unless s3_compatible."
  type        = bool
  default     = null
}

variable "manage_encryption" {
  description = "Set default encryption (SSE-S3, or SSE-KMS with kms_key_arn). Null: on unless s3_compatible (MinIO implements it only with a KMS configured)."
  type        = bool
  default     = null
}

variable "manage_tls_policy" {
  description = "Attach a bucket policy that denies every request not made over TLS. Null: on unless s3_compatible."
  type        = bool
  default     = null
}

variable "manage_lifecycle" {
  description = "Create the lifecycle rule that aborts incomplete multipart uploads. Null: on unless s3_compatible (MinIO rejects a rule whose only action is AbortIncompleteMultipartUpload, and expires stale uploads by itself)."
  type        = bool
  default     = null
}

variable "express_one_zone_az_ids" {
  description = "Availability Zone IDs (such as use1-az4, not zone names) in which to create an S3 Express One Zone directory bucket each, for lower latency. Empty: none. See the README: Strata reads and writes one bucket, so gateways use one of them."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.express_one_zone_az_ids : can(regex("^[a-z]{2,4}[0-9]+-az[0-9]+$", id))])
    error_message = "express_one_zone_az_ids must hold Availability Zone IDs such as use1-az4."
  }

  validation {
    condition     = length(distinct(var.express_one_zone_az_ids)) == length(var.express_one_zone_az_ids)
    error_message = "express_one_zone_az_ids must not repeat a zone."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
