variable "name" {
  description = "Prefix for the gateway resources (e.g. strata-prod). At most 20 characters: load balancer names are short."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.name))
    error_message = "name must be 1-20 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "vpc_id" {
  description = "VPC of the gateways."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must be a VPC id (vpc-...)."
  }
}

variable "subnet_ids" {
  description = "Private subnets, one per Availability Zone; the group spreads gateways evenly over them."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0 && length(distinct(var.subnet_ids)) == length(var.subnet_ids) && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "Give one or more distinct subnet ids (subnet-...)."
  }
}

variable "image" {
  description = "Container image whose entrypoint is the strata binary (e.g. registry.example.com/strata:v1.2.3). Pin a tag or digest."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._/:@-]*[a-z0-9]$", var.image)) && !strcontains(var.image, " ")
    error_message = "image must be a container image reference such as registry.example.com/strata:v1.2.3."
  }
}

variable "bucket_name" {
  description = "The segment bucket (the bucket module's bucket_name)."
  type        = string
}

variable "bucket_region" {
  description = "The segment bucket's region (the bucket module's region)."
  type        = string
}

variable "nats_url" {
  description = "NATS client URLs, comma-separated (the nats module's nats_url)."
  type        = string

  validation {
    condition     = alltrue([for u in split(",", var.nats_url) : can(regex("^(nats|tls)://", u))])
    error_message = "nats_url must be comma-separated nats:// or tls:// URLs."
  }
}

variable "nats_monitor_url" {
  description = "NATS monitoring URLs, comma-separated (the nats module's monitor_url): Strata checks there that every server runs with sync_interval: always."
  type        = string
}

variable "nats_replicas" {
  description = "JetStream replicas for Strata's KV buckets and WAL (the nats module's replicas): 3 on a three-node cluster."
  type        = number

  validation {
    condition     = var.nats_replicas >= 1 && var.nats_replicas <= 5
    error_message = "nats_replicas must be between 1 and 5."
  }
}

variable "instance_profile_name" {
  description = "Instance profile with the gateway role (the iam module's gateway_instance_profile_name)."
  type        = string
}

variable "gateway_role_name" {
  description = "The gateway role (the iam module's gateway_role_name): this module adds the one permission the drain watcher needs, completing its own group's lifecycle action."
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type of the gateways (x86_64 unless ami_id says otherwise)."
  type        = string
  default     = "m6i.large"
}

variable "ami_id" {
  description = "AMI for the gateways. Null: the latest Amazon Linux 2023 (x86_64). The boot script needs systemd, curl, and dnf or a preinstalled Docker and AWS CLI."
  type        = string
  default     = null
}

variable "min_size" {
  description = "Fewest gateways. At least one per zone keeps a rack-local gateway for each zone's clients."
  type        = number
  default     = 3
}

variable "max_size" {
  description = "Most gateways."
  type        = number
  default     = 9

  validation {
    condition     = var.max_size >= 1 && var.max_size <= 200
    error_message = "max_size must be between 1 and 200."
  }
}

variable "target_cpu_utilization" {
  description = "Average CPU utilization (percent) the group scales to hold."
  type        = number
  default     = 60

  validation {
    condition     = var.target_cpu_utilization >= 10 && var.target_cpu_utilization <= 90
    error_message = "target_cpu_utilization must be between 10 and 90."
  }
}

variable "drain_timeout" {
  description = "Seconds a gateway gets after SIGTERM to hand over its partitions and flush before it is killed, on scale-in and on instance refresh."
  type        = number
  default     = 120

  validation {
    condition     = var.drain_timeout >= 30 && var.drain_timeout <= 3600
    error_message = "drain_timeout must be between 30 and 3600 seconds."
  }
}

variable "kafka_port" {
  description = "Kafka listener port on every gateway and on the load balancer."
  type        = number
  default     = 9092
}

variable "kafka_security_protocol" {
  description = "Security protocol of the Kafka listener (listener.security.protocol.map): PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL. SSL and SASL_SSL need STRATA_SSL_CERT_FILE and STRATA_SSL_KEY_FILE in environment, for files present on the instances' image; SASL needs users (STRATA_ADD_SCRAM, or kafka-configs against a running cluster)."
  type        = string
  default     = "PLAINTEXT"
  validation {
    condition     = contains(["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"], var.kafka_security_protocol)
    error_message = "kafka_security_protocol must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
  }
}

variable "allow_unauthenticated_clients" {
  description = "Let the gateways serve clients they do not authenticate (a PLAINTEXT listener, or SSL without required client certificates): anyone who can reach the Kafka port may read, write and delete. Strata refuses to start such a listener otherwise."
  type        = bool
  default     = false
}

variable "schema_registry_port" {
  description = "Schema registry port on every gateway and on the load balancer."
  type        = number
  default     = 8081
}

variable "http_port" {
  description = "Admin HTTP port: /healthz (load balancer health checks) and /metrics (Prometheus)."
  type        = number
  default     = 9644
}

variable "client_cidr_blocks" {
  description = "IPv4 ranges of Kafka and schema registry clients. Clients reach the load balancer for bootstrap and every gateway directly."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.client_cidr_blocks : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "client_cidr_blocks must be IPv4 CIDR blocks, and not 0.0.0.0/0."
  }
}

variable "client_security_group_ids" {
  description = "Security groups of Kafka and schema registry clients."
  type        = list(string)
  default     = []
}

variable "metrics_cidr_blocks" {
  description = "IPv4 ranges allowed to scrape /metrics on every gateway (Prometheus)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.metrics_cidr_blocks : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "metrics_cidr_blocks must be IPv4 CIDR blocks, and not 0.0.0.0/0."
  }
}

variable "metrics_security_group_ids" {
  description = "Security groups allowed to scrape /metrics on every gateway (Prometheus)."
  type        = list(string)
  default     = []
}

variable "internal_load_balancer" {
  description = "Make the bootstrap load balancer internal (reachable from the VPC and peered networks only)."
  type        = bool
  default     = true
}

variable "load_balancer_subnet_ids" {
  description = "Subnets of the load balancer. Null: subnet_ids."
  type        = list(string)
  default     = null
}

variable "environment" {
  description = "More STRATA_* settings for strata serve (see `strata serve --help`), e.g. { STRATA_CACHE_BYTES = \"2GiB\" }. The module sets the listeners, the object store, NATS, the node id, rack and advertised address itself."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.environment) : can(regex("^STRATA_[A-Z0-9_]+$", k))])
    error_message = "environment keys must be STRATA_* variables."
  }

  validation {
    condition     = length(setintersection(keys(var.environment), ["STRATA_NODE_ID", "STRATA_RACK", "STRATA_ADVERTISED_LISTENERS", "STRATA_LISTENERS"])) == 0
    error_message = "STRATA_NODE_ID, STRATA_RACK and STRATA_ADVERTISED_LISTENERS are derived on each instance, and STRATA_LISTENERS from kafka_security_protocol and kafka_port; they cannot be set."
  }
}

variable "key_name" {
  description = "EC2 key pair for SSH, or null."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
