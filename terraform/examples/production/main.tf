# Strata in production: three Availability Zones, a three-node NATS
# JetStream cluster (R3, one node per zone, sync_interval: always), an
# autoscaling group of gateways spread over the zones, and the segment
# bucket with least-privilege roles.

data "aws_caller_identity" "current" {}

locals {
  zones       = sort(keys(var.subnets))
  bucket_name = coalesce(var.bucket_name, "${var.name}-segments-${data.aws_caller_identity.current.account_id}")
}

module "bucket" {
  source = "../../modules/bucket"

  name        = local.bucket_name
  kms_key_arn = var.kms_key_arn
}

module "iam" {
  source = "../../modules/iam"

  name                   = var.name
  bucket_arn             = module.bucket.bucket_arn
  kms_key_arn            = var.kms_key_arn
  reader_export_prefixes = var.replay_export_prefixes
}

module "nats" {
  source = "../../modules/nats"

  name                      = var.name
  vpc_id                    = var.vpc_id
  subnets                   = [for az in local.zones : { id = var.subnets[az], availability_zone = az }]
  client_security_group_ids = concat([module.gateways.security_group_id], var.replay_security_group_ids)
  instance_type             = var.nats_instance_type
  volume_size_gb            = var.nats_volume_size_gb
  kms_key_arn               = var.kms_key_arn
}

module "gateways" {
  source = "../../modules/gateways"

  name                  = var.name
  vpc_id                = var.vpc_id
  subnet_ids            = [for az in local.zones : var.subnets[az]]
  image                 = var.gateway_image
  instance_type         = var.gateway_instance_type
  min_size              = var.gateway_min_size
  max_size              = var.gateway_max_size
  bucket_name           = module.bucket.bucket_name
  bucket_region         = module.bucket.region
  nats_url              = module.nats.nats_url
  nats_monitor_url      = module.nats.monitor_url
  nats_replicas         = module.nats.replicas
  instance_profile_name = module.iam.gateway_instance_profile_name
  gateway_role_name     = module.iam.gateway_role_name
  client_cidr_blocks    = var.client_cidr_blocks
  metrics_cidr_blocks   = var.metrics_cidr_blocks
  # PLAINTEXT Kafka, reachable only from client_cidr_blocks (the security
  # group): anyone there may read and write. Set kafka_security_protocol to
  # SASL_PLAINTEXT or SASL_SSL and turn this off to require logins.
  allow_unauthenticated_clients = true
  environment                   = var.gateway_environment
}
