# Applies the module against a mocked AWS provider: no network, no
# credentials. The mock gives each network interface an address, so the
# rendered configurations can be checked whole.

mock_provider "aws" {
  mock_resource "aws_network_interface" {
    defaults = {
      private_ip = "10.0.0.10"
    }
  }
  mock_resource "aws_ebs_volume" {
    defaults = {
      id = "vol-0123456789abcdef0"
    }
  }
}

variables {
  name   = "strata-test"
  vpc_id = "vpc-0abc"
  subnets = [
    { id = "subnet-0a", availability_zone = "eu-west-1a" },
    { id = "subnet-0b", availability_zone = "eu-west-1b" },
    { id = "subnet-0c", availability_zone = "eu-west-1c" },
  ]
  client_security_group_ids = ["sg-0a1b2c3d"]
}

run "three_nodes_in_three_zones" {
  command = apply

  assert {
    condition     = length(aws_instance.node) == 3 && length(aws_ebs_volume.jetstream) == 3 && length(aws_volume_attachment.jetstream) == 3
    error_message = "three nodes, each with its own volume"
  }

  assert {
    condition     = toset([for v in aws_ebs_volume.jetstream : v.availability_zone]) == toset(["eu-west-1a", "eu-west-1b", "eu-west-1c"])
    error_message = "one JetStream volume in each of the three zones"
  }

  assert {
    condition     = alltrue([for k, eni in aws_network_interface.node : eni.subnet_id == { n1 = "subnet-0a", n2 = "subnet-0b", n3 = "subnet-0c" }[k]])
    error_message = "each node sits in its own zone's subnet"
  }

  assert {
    condition     = alltrue([for k, a in aws_volume_attachment.jetstream : a.instance_id == aws_instance.node[k].id && a.volume_id == aws_ebs_volume.jetstream[k].id])
    error_message = "each node's volume is attached to that node"
  }

  assert {
    condition     = alltrue([for v in aws_ebs_volume.jetstream : v.encrypted && v.type == "gp3"])
    error_message = "JetStream volumes are encrypted gp3 by default"
  }

  assert {
    condition     = output.replicas == 3
    error_message = "three nodes give R3"
  }
}

run "durability_settings" {
  command = apply

  assert {
    condition     = alltrue([for c in values(output.server_configs) : strcontains(c, "sync_interval: always")])
    error_message = "every node must fsync every write (sync_interval: always)"
  }

  assert {
    condition     = alltrue([for c in values(output.server_configs) : strcontains(c, "max_payload: 8MB")])
    error_message = "max_payload must be the 8 MiB Strata needs"
  }

  assert {
    condition     = alltrue([for c in values(output.server_configs) : strcontains(c, "store_dir: /data") && strcontains(c, "max_file_store: 90G")])
    error_message = "JetStream stores its files on the dedicated volume (mounted at /data in the container)"
  }

  assert {
    condition     = alltrue([for k, c in output.server_configs : length(regexall("nats://10\\.0\\.0\\.10:6222", c)) == 2 && strcontains(c, "server_name: ${k}")])
    error_message = "each node routes to the two others"
  }

  assert {
    condition     = alltrue([for i in aws_instance.node : strcontains(i.user_data, "-v /var/lib/nats:/data") && strcontains(i.user_data, "nvme-Amazon_Elastic_Block_Store_$${vol//-/}")])
    error_message = "the node mounts its own volume for JetStream"
  }
}

run "ports_reachable_by_the_gateways_only" {
  command = apply

  assert {
    condition     = aws_vpc_security_group_ingress_rule.monitoring[0].from_port == 8222 && aws_vpc_security_group_ingress_rule.monitoring[0].referenced_security_group_id == "sg-0a1b2c3d"
    error_message = "monitoring is open to the gateways' group"
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.client[0].from_port == 4222 && length(aws_vpc_security_group_ingress_rule.client) == 1
    error_message = "clients: the gateways' group only"
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.routes.referenced_security_group_id == aws_security_group.nats.id && aws_vpc_security_group_ingress_rule.routes.from_port == 6222
    error_message = "routes: between the nodes only"
  }
}

run "single_node_has_no_cluster_block" {
  command = apply

  variables {
    subnets = [{ id = "subnet-0a", availability_zone = "eu-west-1a" }]
  }

  assert {
    condition     = output.replicas == 1 && !strcontains(output.server_configs["n1"], "cluster {") && strcontains(output.server_configs["n1"], "sync_interval: always")
    error_message = "one node: R1, no routes, still sync_interval: always"
  }
}

run "rejects_two_nodes_in_one_zone" {
  command = plan

  variables {
    subnets = [
      { id = "subnet-0a", availability_zone = "eu-west-1a" },
      { id = "subnet-0b", availability_zone = "eu-west-1a" },
      { id = "subnet-0c", availability_zone = "eu-west-1c" },
    ]
  }

  expect_failures = [var.subnets]
}

run "rejects_even_node_counts_and_small_payloads" {
  command = plan

  variables {
    subnets = [
      { id = "subnet-0a", availability_zone = "eu-west-1a" },
      { id = "subnet-0b", availability_zone = "eu-west-1b" },
    ]
    max_payload_mb = 1
  }

  expect_failures = [var.subnets, var.max_payload_mb]
}
