variable "region" {
  description = "AWS region, e.g. eu-west-1."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "name" {
  description = "Name of the cluster: prefixes every resource (lowercase, at most 20 characters)."
  type        = string
  default     = "strata-try"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.name))
    error_message = "name must be 1-20 lowercase letters, digits and hyphens, starting with a letter."
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

variable "subnet_id" {
  description = "One private subnet with a route to S3 and to the container registry."
  type        = string

  validation {
    condition     = can(regex("^subnet-[0-9a-f]+$", var.subnet_id))
    error_message = "subnet_id must be a subnet id (subnet-...)."
  }
}

variable "availability_zone" {
  description = "The subnet's Availability Zone, e.g. eu-west-1a (the NATS volume is created there)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9][a-z]$", var.availability_zone))
    error_message = "availability_zone must be a zone name such as eu-west-1a."
  }
}

variable "gateway_image" {
  description = "Container image of Strata (entrypoint: the strata binary)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._/:@-]*[a-z0-9]$", var.gateway_image))
    error_message = "gateway_image must be a container image reference such as registry.example.com/strata:v1.2.3."
  }
}

variable "client_cidr_blocks" {
  description = "IPv4 ranges allowed to reach Kafka, the schema registry and /metrics."
  type        = list(string)

  validation {
    condition     = length(var.client_cidr_blocks) > 0 && alltrue([for c in var.client_cidr_blocks : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "client_cidr_blocks must be one or more IPv4 CIDR blocks, not 0.0.0.0/0."
  }
}

variable "gateway_count" {
  description = "Gateways to run (the group scales between this and twice as many)."
  type        = number
  default     = 1

  validation {
    condition     = var.gateway_count >= 1 && var.gateway_count <= 3
    error_message = "gateway_count must be between 1 and 3 in the minimal example."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
