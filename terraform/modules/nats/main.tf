# A JetStream cluster of one node per Availability Zone. Each node is an EC2
# instance running nats-server in Docker, with:
#   - a fixed private address (its own network interface, kept when the
#     instance is replaced), so routes and Strata's --nats-url never change;
#   - a dedicated, encrypted EBS volume for JetStream's file store, kept when
#     the instance is replaced;
#   - sync_interval: always: every write is fsynced before JetStream
#     acknowledges it (Jepsen's NATS 2.12.1 analysis: the default loses
#     acknowledged writes on power loss). Strata checks it at start through
#     the monitoring port and refuses to run without it.

locals {
  nodes = { for i, s in var.subnets : "n${i + 1}" => s }

  ports = {
    client     = 4222
    cluster    = 6222
    monitoring = 8222
  }

  ami_id = var.ami_id != null ? var.ami_id : nonsensitive(data.aws_ssm_parameter.al2023[0].value)

  ips = { for k, eni in aws_network_interface.node : k => eni.private_ip }

  configs = {
    for k, s in local.nodes : k => templatefile("${path.module}/templates/nats.conf.tftpl", {
      server_name    = k
      cluster_name   = var.cluster_name
      client_port    = local.ports.client
      cluster_port   = local.ports.cluster
      monitor_port   = local.ports.monitoring
      max_payload_mb = var.max_payload_mb
      # JetStream may use 90% of the volume; the rest is the file system's.
      max_file_store_gb = floor(var.volume_size_gb * 0.9)
      routes            = [for other, ip in local.ips : "nats://${ip}:${local.ports.cluster}" if other != k]
    })
  }
}

data "aws_ssm_parameter" "al2023" {
  count = var.ami_id == null ? 1 : 0
  name  = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

resource "aws_security_group" "nats" {
  name_prefix = "${var.name}-nats-"
  description = "Strata NATS JetStream cluster"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-nats" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "client" {
  # count, not for_each: the ids are usually unknown until the gateways'
  # group exists, and only their number is needed to plan.
  count = length(var.client_security_group_ids)

  security_group_id            = aws_security_group.nats.id
  description                  = "NATS clients (Strata gateways)"
  ip_protocol                  = "tcp"
  from_port                    = local.ports.client
  to_port                      = local.ports.client
  referenced_security_group_id = var.client_security_group_ids[count.index]
}

resource "aws_vpc_security_group_ingress_rule" "monitoring" {
  # count, not for_each: the ids are usually unknown until the gateways'
  # group exists, and only their number is needed to plan.
  count = length(var.client_security_group_ids)

  security_group_id            = aws_security_group.nats.id
  description                  = "NATS monitoring: Strata checks sync_interval at start"
  ip_protocol                  = "tcp"
  from_port                    = local.ports.monitoring
  to_port                      = local.ports.monitoring
  referenced_security_group_id = var.client_security_group_ids[count.index]
}

resource "aws_vpc_security_group_ingress_rule" "routes" {
  security_group_id            = aws_security_group.nats.id
  description                  = "NATS cluster routes between the nodes"
  ip_protocol                  = "tcp"
  from_port                    = local.ports.cluster
  to_port                      = local.ports.cluster
  referenced_security_group_id = aws_security_group.nats.id
}

resource "aws_vpc_security_group_egress_rule" "all" {
  security_group_id = aws_security_group.nats.id
  description       = "Routes to the other nodes, the container registry, package mirrors"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_network_interface" "node" {
  for_each = local.nodes

  subnet_id       = each.value.id
  security_groups = [aws_security_group.nats.id]
  description     = "${var.name} NATS ${each.key} (${each.value.availability_zone})"
  tags            = merge(var.tags, { Name = "${var.name}-nats-${each.key}" })
}

resource "aws_ebs_volume" "jetstream" {
  for_each = local.nodes

  availability_zone = each.value.availability_zone
  size              = var.volume_size_gb
  type              = var.volume_type
  iops              = var.volume_iops
  throughput        = var.volume_type == "gp3" ? var.volume_throughput : null
  encrypted         = true
  kms_key_id        = var.kms_key_arn
  tags              = merge(var.tags, { Name = "${var.name}-nats-${each.key}-jetstream" })
}

resource "aws_instance" "node" {
  for_each = local.nodes

  ami                  = local.ami_id
  instance_type        = var.instance_type
  key_name             = var.key_name
  iam_instance_profile = var.iam_instance_profile

  network_interface {
    network_interface_id = aws_network_interface.node[each.key].id
    device_index         = 0
  }

  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = 20
    encrypted   = true
  }

  user_data = templatefile("${path.module}/templates/user_data.sh.tftpl", {
    config    = local.configs[each.key]
    volume_id = aws_ebs_volume.jetstream[each.key].id
    image     = var.nats_image
  })

  tags = merge(var.tags, { Name = "${var.name}-nats-${each.key}", "strata:role" = "nats" })

  lifecycle {
    # A new AMI must not replace every node at once: roll nodes one at a
    # time with -replace='module.nats.aws_instance.node["n1"]'.
    ignore_changes = [ami]
  }
}

resource "aws_volume_attachment" "jetstream" {
  for_each = local.nodes

  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.jetstream[each.key].id
  instance_id = aws_instance.node[each.key].id
  # Stop the instance before detaching, so nats-server has flushed and the
  # file system is clean.
  stop_instance_before_detaching = true
}
