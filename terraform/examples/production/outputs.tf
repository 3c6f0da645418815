output "bootstrap_servers" {
  description = "Kafka bootstrap.servers for clients (the load balancer; clients then connect to each gateway's private address)."
  value       = module.gateways.bootstrap_servers
}

output "schema_registry_url" {
  description = "URL of the schema registry (Confluent REST API), e.g. for schema.registry.url."
  value       = module.gateways.schema_registry_url
}

output "bucket_name" {
  description = "The segment bucket: Strata's system of record; point strata replay and analytics readers at it."
  value       = module.bucket.bucket_name
}

output "reader_role_arn" {
  description = "Read-only role for strata replay and analytics jobs."
  value       = module.iam.reader_role_arn
}

output "nats_url" {
  description = "The NATS cluster's client URLs (reachable from the gateways' security group only)."
  value       = module.nats.nats_url
}

output "nats_nodes" {
  description = "The NATS nodes: zone, private address, instance and JetStream volume."
  value       = module.nats.nodes
}

output "gateway_autoscaling_group" {
  description = "The gateways' Auto Scaling group."
  value       = module.gateways.autoscaling_group_name
}

output "metrics_port" {
  description = "Port of /metrics on every gateway (EC2 service discovery: tag prometheus:scrape=true)."
  value       = module.gateways.metrics_port
}
