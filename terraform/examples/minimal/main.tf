# Strata to try out: one Availability Zone, a single NATS node (R1, still
# sync_interval: always), one gateway, and a bucket that `terraform destroy`
# empties and removes. Not for data you care about: losing the zone or the
# NATS node's volume loses acknowledged records still in the WAL tail.

data "aws_caller_identity" "current" {}

module "bucket" {
  source = "../../modules/bucket"

  name          = "${var.name}-segments-${data.aws_caller_identity.current.account_id}"
  force_destroy = true
}

module "iam" {
  source = "../../modules/iam"

  name       = var.name
  bucket_arn = module.bucket.bucket_arn
}

module "nats" {
  source = "../../modules/nats"

  name                      = var.name
  vpc_id                    = var.vpc_id
  subnets                   = [{ id = var.subnet_id, availability_zone = var.availability_zone }]
  client_security_group_ids = [module.gateways.security_group_id]
  instance_type             = "t3.medium"
  volume_size_gb            = 20
  volume_iops               = 3000
  volume_throughput         = 125
}

module "gateways" {
  source = "../../modules/gateways"

  name                  = var.name
  vpc_id                = var.vpc_id
  subnet_ids            = [var.subnet_id]
  image                 = var.gateway_image
  instance_type         = "t3.large"
  min_size              = var.gateway_count
  max_size              = 2 * var.gateway_count
  bucket_name           = module.bucket.bucket_name
  bucket_region         = module.bucket.region
  nats_url              = module.nats.nats_url
  nats_monitor_url      = module.nats.monitor_url
  nats_replicas         = module.nats.replicas
  instance_profile_name = module.iam.gateway_instance_profile_name
  gateway_role_name     = module.iam.gateway_role_name
  client_cidr_blocks    = var.client_cidr_blocks
  metrics_cidr_blocks   = var.client_cidr_blocks
  # PLAINTEXT Kafka, reachable only from client_cidr_blocks (the security
  # group): anyone there may read and write. Set kafka_security_protocol to
  # SASL_PLAINTEXT or SASL_SSL and turn this off to require logins.
  allow_unauthenticated_clients = true
  # Auto-created topics get 3 partitions, so a consumer group has something
  # to balance even here.
  environment = { STRATA_NUM_PARTITIONS = "3" }
}
