variable "region" {
  description = "AWS region of the cluster, e.g. eu-west-1."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "name" {
  description = "Name of the cluster: prefixes every resource (lowercase, at most 20 characters)."
  type        = string
  default     = "strata"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.name))
    error_message = "name must be 1-20 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "bucket_name" {
  description = "Name of the segment bucket (globally unique). Null: <name>-segments-<account id>."
  type        = string
  default     = null

  validation {
    condition     = var.bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name."
  }
}

variable "vpc_id" {
  description = "VPC to deploy into."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must be a VPC id (vpc-...)."
  }
}

variable "subnets" {
  description = "Three private subnets by Availability Zone name, e.g. { \"eu-west-1a\" = \"subnet-0a...\", ... }: one NATS node and a share of the gateways in each. They need a route to S3 (a gateway VPC endpoint is cheapest) and to the container registry."
  type        = map(string)

  validation {
    condition     = length(var.subnets) == 3
    error_message = "production needs exactly three subnets in three Availability Zones (NATS R3, one node per zone)."
  }

  validation {
    condition     = alltrue([for az, id in var.subnets : can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9][a-z]$", az)) && can(regex("^subnet-[0-9a-f]+$", id))])
    error_message = "subnets maps zone names (eu-west-1a) to subnet ids (subnet-...)."
  }
}

variable "gateway_image" {
  description = "Container image of Strata (entrypoint: the strata binary), pinned by tag or digest."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._/:@-]*[a-z0-9]$", var.gateway_image)) && !endswith(var.gateway_image, ":latest")
    error_message = "gateway_image must be an image reference pinned to a tag or digest (not :latest)."
  }
}

variable "client_cidr_blocks" {
  description = "IPv4 ranges of the Kafka and schema registry clients."
  type        = list(string)

  validation {
    condition     = length(var.client_cidr_blocks) > 0 && alltrue([for c in var.client_cidr_blocks : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "client_cidr_blocks must be one or more IPv4 CIDR blocks, not 0.0.0.0/0."
  }
}

variable "metrics_cidr_blocks" {
  description = "IPv4 ranges of the Prometheus servers that scrape the gateways."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.metrics_cidr_blocks : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "metrics_cidr_blocks must be IPv4 CIDR blocks, not 0.0.0.0/0."
  }
}

variable "replay_security_group_ids" {
  description = "Security groups of hosts that run strata replay or strata recover: they may reach NATS (the coordinator) besides the gateways."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for g in var.replay_security_group_ids : can(regex("^sg-[0-9a-f]+$", g))])
    error_message = "replay_security_group_ids must hold security group ids (sg-...)."
  }
}

variable "replay_export_prefixes" {
  description = "S3 locations (arn:aws:s3:::BUCKET/PREFIX) where the read-only role may write strata replay's Parquet exports."
  type        = list(string)
  default     = []
}

variable "gateway_min_size" {
  description = "Fewest gateways (at least one per zone)."
  type        = number
  default     = 3

  validation {
    condition     = var.gateway_min_size >= 3
    error_message = "production runs at least three gateways, one per zone."
  }
}

variable "gateway_max_size" {
  description = "Most gateways."
  type        = number
  default     = 12

  validation {
    condition     = var.gateway_max_size >= 3 && var.gateway_max_size <= 200
    error_message = "gateway_max_size must be between 3 and 200."
  }
}

variable "gateway_instance_type" {
  description = "Instance type of the gateways."
  type        = string
  default     = "m6i.xlarge"
}

variable "nats_instance_type" {
  description = "Instance type of the NATS nodes."
  type        = string
  default     = "m6i.large"
}

variable "nats_volume_size_gb" {
  description = "Size of each NATS node's JetStream volume."
  type        = number
  default     = 200

  validation {
    condition     = var.nats_volume_size_gb >= 20
    error_message = "nats_volume_size_gb must be at least 20."
  }
}

variable "kms_key_arn" {
  description = "KMS key for the bucket and the NATS volumes. Null: SSE-S3 and the account's default EBS key."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN or null."
  }
}

variable "gateway_environment" {
  description = "More STRATA_* settings for the gateways, e.g. { STRATA_CACHE_BYTES = \"4GiB\" }."
  type        = map(string)
  default     = {}
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
