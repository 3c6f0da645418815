variable "name" {
  description = "Prefix for the roles, policies and instance profiles (e.g. strata-prod)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,40}$", var.name))
    error_message = "name must be 1-40 characters allowed in IAM names (letters, digits, +=,.@_-)."
  }
}

variable "bucket_arn" {
  description = "ARN of the segment bucket (the bucket module's bucket_arn). Every S3 permission is limited to it and its objects."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_arn))
    error_message = "bucket_arn must be an S3 bucket ARN such as arn:aws:s3:::strata-segments (no key, no wildcard)."
  }
}

variable "express_bucket_arns" {
  description = "ARNs of S3 Express One Zone directory buckets the roles may open sessions on (the bucket module's express_buckets). Empty: none."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.express_bucket_arns : can(regex("^arn:aws[a-z-]*:s3express:[a-z0-9-]+:[0-9]{12}:bucket/[a-z0-9.-]+--x-s3$", a))])
    error_message = "express_bucket_arns must hold directory bucket ARNs (arn:aws:s3express:REGION:ACCOUNT:bucket/NAME--AZID--x-s3)."
  }
}

variable "kms_key_arn" {
  description = "The bucket's SSE-KMS key, if any (the same value given to the bucket module). Null: SSE-S3, no KMS permission."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN or null."
  }
}

variable "require_conditional_writes" {
  description = "Allow the gateways' PutObject only with an If-None-Match header, as Strata always sends (objects are create-only), so no credential of theirs can overwrite a segment."
  type        = bool
  default     = true
}

variable "gateway_trusted_services" {
  description = "Services that may assume the gateway role: ec2.amazonaws.com for the gateways module's autoscaling group, ecs-tasks.amazonaws.com for a task role."
  type        = list(string)
  default     = ["ec2.amazonaws.com"]

  validation {
    condition     = length(var.gateway_trusted_services) > 0 && alltrue([for s in var.gateway_trusted_services : can(regex("^[a-z0-9.-]+\\.amazonaws\\.com$", s))])
    error_message = "gateway_trusted_services must list AWS service principals such as ec2.amazonaws.com."
  }
}

variable "reader_trusted_services" {
  description = "Services that may assume the read-only role (strata replay, analytics jobs)."
  type        = list(string)
  default     = ["ec2.amazonaws.com", "ecs-tasks.amazonaws.com"]

  validation {
    condition     = alltrue([for s in var.reader_trusted_services : can(regex("^[a-z0-9.-]+\\.amazonaws\\.com$", s))])
    error_message = "reader_trusted_services must list AWS service principals."
  }
}

variable "reader_trusted_principal_arns" {
  description = "IAM principals (roles, users, account roots) that may assume the read-only role, e.g. an analytics account's role."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.reader_trusted_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:", a))])
    error_message = "reader_trusted_principal_arns must hold IAM ARNs."
  }
}

variable "reader_export_prefixes" {
  description = "S3 locations (arn:aws:s3:::BUCKET/PREFIX) where the reader role may create objects: the s3://BUCKET/PREFIX targets of `strata replay --format parquet --out`. Never inside the segment bucket. Empty: the reader writes nothing."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.reader_export_prefixes : can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[^*?]+[^/*?]$", a))])
    error_message = "reader_export_prefixes must be S3 ARNs of a bucket and a non-empty prefix without wildcards or trailing slash, e.g. arn:aws:s3:::analytics/strata."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
