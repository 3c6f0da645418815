output "bootstrap_servers" {
  description = "Kafka bootstrap.servers for clients in client_cidr_blocks."
  value       = module.gateways.bootstrap_servers
}

output "schema_registry_url" {
  description = "URL of the schema registry (Confluent REST API)."
  value       = module.gateways.schema_registry_url
}

output "bucket_name" {
  description = "The segment bucket (emptied and removed by terraform destroy in this example)."
  value       = module.bucket.bucket_name
}

output "nats_url" {
  description = "The NATS node's client URL (reachable from the gateways only)."
  value       = module.nats.nats_url
}

output "gateway_autoscaling_group" {
  description = "The gateways' Auto Scaling group."
  value       = module.gateways.autoscaling_group_name
}
