output "bootstrap_servers" {
  description = "Kafka bootstrap.servers: the load balancer, which forwards the first connection to any gateway; metadata then points clients at each gateway's own address."
  value       = "${aws_lb.bootstrap.dns_name}:${var.kafka_port}"
}

output "schema_registry_url" {
  description = "The schema registry (Confluent REST API) behind the load balancer."
  value       = "http://${aws_lb.bootstrap.dns_name}:${var.schema_registry_port}"
}

output "load_balancer_dns_name" {
  description = "DNS name of the bootstrap load balancer."
  value       = aws_lb.bootstrap.dns_name
}

output "autoscaling_group_name" {
  description = "The gateways' Auto Scaling group."
  value       = aws_autoscaling_group.gateways.name
}

output "security_group_id" {
  description = "The gateways' security group (give it to the nats module's client_security_group_ids)."
  value       = aws_security_group.gateways.id
}

output "metrics_port" {
  description = "Port of /metrics and /healthz on every gateway; instances carry the tags prometheus:scrape=true and prometheus:port for EC2 service discovery."
  value       = var.http_port
}

output "strata_environment" {
  description = "The STRATA_* settings every gateway runs with (node id, rack and advertised address are added per instance)."
  value       = local.strata_env
}

output "user_data" {
  description = "The instances' boot script."
  value       = local.user_data
}
