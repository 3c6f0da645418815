output "nats_url" {
  description = "The cluster's client URLs, comma-separated: the gateways' --nats-url (STRATA_NATS_URL)."
  value       = join(",", [for k in keys(local.nodes) : "nats://${local.ips[k]}:${local.ports.client}"])
}

output "monitor_url" {
  description = "The nodes' monitoring URLs, comma-separated: the gateways' --nats-monitor-url (STRATA_NATS_MONITOR_URL), which Strata uses to check sync_interval at start."
  value       = join(",", [for k in keys(local.nodes) : "http://${local.ips[k]}:${local.ports.monitoring}"])
}

output "replicas" {
  description = "JetStream replicas the cluster supports for Strata's streams and KV buckets (--nats-replicas): 3, or 1 for a single node."
  value       = min(3, length(local.nodes))
}

output "security_group_id" {
  description = "The nodes' security group."
  value       = aws_security_group.nats.id
}

output "nodes" {
  description = "Each node: its Availability Zone, private address, instance and JetStream volume."
  value = {
    for k, s in local.nodes : k => {
      availability_zone = s.availability_zone
      private_ip        = local.ips[k]
      instance_id       = aws_instance.node[k].id
      volume_id         = aws_ebs_volume.jetstream[k].id
    }
  }
}

output "server_configs" {
  description = "The nats-server configuration of each node, as written to /etc/nats/nats.conf."
  value       = local.configs
}
