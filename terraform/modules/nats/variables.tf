variable "name" {
  description = "Prefix for the NATS resources (e.g. strata-prod)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}$", var.name))
    error_message = "name must be 1-31 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "vpc_id" {
  description = "VPC of the cluster."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must be a VPC id (vpc-...)."
  }
}

variable "subnets" {
  description = "One private subnet per node, each in a different Availability Zone: three for production (JetStream R3 survives losing one zone), one to try things out."
  type = list(object({
    id                = string
    availability_zone = string
  }))

  validation {
    condition     = contains([1, 3, 5], length(var.subnets))
    error_message = "A JetStream cluster needs an odd number of nodes: give 1 (trying it out), 3 (production) or 5 subnets."
  }

  validation {
    condition     = length(distinct([for s in var.subnets : s.availability_zone])) == length(var.subnets)
    error_message = "Each node must be in its own Availability Zone: the subnets' availability_zone values must differ."
  }

  validation {
    condition     = alltrue([for s in var.subnets : can(regex("^subnet-[0-9a-f]+$", s.id))])
    error_message = "Subnet ids look like subnet-0123abcd."
  }
}

variable "client_security_group_ids" {
  description = "Security groups allowed to reach the client port (4222) and the monitoring port (8222): the gateways' group. Nothing else can reach either."
  type        = list(string)

  validation {
    condition     = length(var.client_security_group_ids) > 0 && alltrue([for g in var.client_security_group_ids : can(regex("^sg-[0-9a-f]+$", g))])
    error_message = "Give at least one security group id (sg-...)."
  }
}

variable "instance_type" {
  description = "EC2 instance type of each node (x86_64 unless ami_id says otherwise)."
  type        = string
  default     = "m6i.large"
}

variable "ami_id" {
  description = "AMI for the nodes. Null: the latest Amazon Linux 2023 (x86_64), from its public SSM parameter. Any AMI with systemd, dnf or a preinstalled Docker works."
  type        = string
  default     = null
}

variable "nats_image" {
  description = "Container image of nats-server (2.12 or later: the version Jepsen analysed, with sync_interval)."
  type        = string
  default     = "nats:2.12-alpine"
}

variable "volume_size_gb" {
  description = "Size of each node's dedicated JetStream volume. The WAL tail is short (flushed to S3 within seconds), so this mostly bounds how long an S3 outage can be absorbed."
  type        = number
  default     = 100

  validation {
    condition     = var.volume_size_gb >= 10 && var.volume_size_gb <= 16384
    error_message = "volume_size_gb must be between 10 and 16384."
  }
}

variable "volume_type" {
  description = "EBS type of the JetStream volumes: gp3, or io2 for the lowest fsync latency (every write is fsynced)."
  type        = string
  default     = "gp3"

  validation {
    condition     = contains(["gp3", "io2", "io1"], var.volume_type)
    error_message = "volume_type must be gp3, io1 or io2."
  }
}

variable "volume_iops" {
  description = "Provisioned IOPS of each volume (gp3: 3000-16000, io1/io2: up to 64000)."
  type        = number
  default     = 6000
}

variable "volume_throughput" {
  description = "Throughput of each gp3 volume in MiB/s (125-1000); ignored for io1/io2."
  type        = number
  default     = 250
}

variable "kms_key_arn" {
  description = "KMS key for the EBS volumes. Null: the account's default EBS key."
  type        = string
  default     = null
}

variable "max_payload_mb" {
  description = "nats-server max_payload in MiB. A WAL message carries whole Kafka batches (max.message.bytes is 1 MiB, batches of several): Strata needs 8."
  type        = number
  default     = 8

  validation {
    condition     = var.max_payload_mb >= 8 && var.max_payload_mb <= 64
    error_message = "max_payload_mb must be between 8 (what Strata needs) and 64 (nats-server's limit)."
  }
}

variable "cluster_name" {
  description = "NATS cluster name."
  type        = string
  default     = "strata"
}

variable "key_name" {
  description = "EC2 key pair for SSH, or null (use SSM Session Manager instead)."
  type        = string
  default     = null
}

variable "iam_instance_profile" {
  description = "Instance profile for the nodes (e.g. one with AmazonSSMManagedInstanceCore), or null. Nodes need no AWS API themselves."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
