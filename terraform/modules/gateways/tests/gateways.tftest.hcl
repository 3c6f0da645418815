# Applies the module against a mocked AWS provider. Broker ids are derived on
# each instance from its private address (files/strata-gateway.sh);
# scripts/terraform-check.sh runs that derivation on sample addresses, and
# these runs check that the boot script wires it up.

mock_provider "aws" {
  mock_data "aws_region" {
    defaults = {
      name = "eu-west-1"
    }
  }
  # The provider validates some computed values it is given back (ARNs,
  # launch template ids), so the mocks return well-formed ones.
  mock_resource "aws_lb" {
    defaults = {
      dns_name = "strata-gw-0123.elb.eu-west-1.amazonaws.com"
      arn      = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/net/strata-test-gw/0123456789abcdef"
    }
  }
  mock_resource "aws_lb_target_group" {
    defaults = {
      arn = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/strata-test-kafka/0123456789abcdef"
    }
  }
  mock_resource "aws_launch_template" {
    defaults = {
      id = "lt-0123456789abcdef0"
    }
  }
  mock_resource "aws_autoscaling_group" {
    defaults = {
      arn = "arn:aws:autoscaling:eu-west-1:111122223333:autoScalingGroup:0f0f0f0f-1111-2222-3333-444455556666:autoScalingGroupName/strata-test-gateways"
    }
  }
}

variables {
  name                  = "strata-test"
  vpc_id                = "vpc-0abc"
  subnet_ids            = ["subnet-0a", "subnet-0b", "subnet-0c"]
  image                 = "registry.example.com/strata:v1.0.0"
  bucket_name           = "strata-segments-test"
  bucket_region         = "eu-west-1"
  nats_url              = "nats://10.0.1.10:4222,nats://10.0.2.10:4222,nats://10.0.3.10:4222"
  nats_monitor_url      = "http://10.0.1.10:8222,http://10.0.2.10:8222,http://10.0.3.10:8222"
  nats_replicas         = 3
  instance_profile_name = "strata-test-gateway"
  gateway_role_name     = "strata-test-gateway"
  client_cidr_blocks    = ["10.0.0.0/16"]
  metrics_cidr_blocks   = ["10.0.100.0/24"]
}

run "spread_over_zones_with_derived_identity" {
  command = apply

  assert {
    condition     = toset(aws_autoscaling_group.gateways.vpc_zone_identifier) == toset(var.subnet_ids)
    error_message = "the group spans every zone's subnet"
  }

  assert {
    condition = alltrue([
      strcontains(local.user_data, "-e STRATA_NODE_ID=\"$(node_id \"$ip\")\""),
      strcontains(local.user_data, "ip=$(md local-ipv4)"),
      strcontains(local.user_data, "-e STRATA_RACK=\"$az\""),
      strcontains(local.user_data, "az=$(md placement/availability-zone)"),
      strcontains(local.user_data, "-e STRATA_ADVERTISED_LISTENERS=\"$KAFKA_PROTOCOL://$ip:$KAFKA_PORT\""),
      strcontains(local.user_data, "KAFKA_PROTOCOL=PLAINTEXT"),
    ])
    error_message = "each instance derives its node id from its private address, its rack from its zone, and advertises its own address"
  }

  assert {
    condition     = length(setintersection(keys(output.strata_environment), ["STRATA_NODE_ID", "STRATA_RACK", "STRATA_ADVERTISED_LISTENERS"])) == 0
    error_message = "no instance-specific setting may be shared by the whole group"
  }

  assert {
    condition = (
      output.strata_environment.STRATA_NATS_REPLICAS == "3" &&
      output.strata_environment.STRATA_OBJECT_STORE == "s3" &&
      output.strata_environment.STRATA_S3_BUCKET == "strata-segments-test" &&
      output.strata_environment.STRATA_NATS_MONITOR_URL == var.nats_monitor_url &&
      output.strata_environment.STRATA_LISTENERS == "PLAINTEXT://0.0.0.0:9092" &&
      output.strata_environment.STRATA_ALLOW_UNAUTHENTICATED_LISTENERS == "false" &&
      output.strata_environment.STRATA_HTTP_LISTEN == "0.0.0.0:9644"
    )
    error_message = "the gateways must use S3, the NATS cluster with R3 and its durability check, and listen on every interface"
  }

  assert {
    condition     = strcontains(local.user_data, "STRATA_IMAGE=registry.example.com/strata:v1.0.0") && strcontains(local.user_data, "\"$STRATA_IMAGE\" serve")
    error_message = "the image comes from the variable and runs strata serve"
  }
}

run "health_checks_and_bootstrap" {
  command = apply

  assert {
    condition     = alltrue([for tg in aws_lb_target_group.this : tg.health_check[0].path == "/healthz" && tg.health_check[0].port == "9644" && tg.health_check[0].protocol == "HTTP"])
    error_message = "the load balancer checks /healthz on the admin port"
  }

  assert {
    condition     = aws_autoscaling_group.gateways.health_check_type == "ELB"
    error_message = "unhealthy gateways are replaced"
  }

  assert {
    condition     = output.bootstrap_servers == "strata-gw-0123.elb.eu-west-1.amazonaws.com:9092" && output.schema_registry_url == "http://strata-gw-0123.elb.eu-west-1.amazonaws.com:8081"
    error_message = "bootstrap and schema registry go through the load balancer"
  }

  assert {
    condition     = aws_lb.bootstrap.internal && aws_lb.bootstrap.load_balancer_type == "network"
    error_message = "an internal network load balancer"
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.metrics["metrics-cidr-0"].from_port == 9644 && aws_vpc_security_group_ingress_rule.metrics["metrics-cidr-0"].cidr_ipv4 == "10.0.100.0/24"
    error_message = "/metrics is scrapable from the given range"
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.gateway_clients["kafka-cidr-0"].from_port == 9092 && aws_vpc_security_group_ingress_rule.gateway_clients["schema-registry-cidr-0"].from_port == 8081
    error_message = "clients reach each gateway directly"
  }
}

run "graceful_scale_in" {
  command = apply

  assert {
    condition = (
      one(aws_autoscaling_group.gateways.initial_lifecycle_hook).lifecycle_transition == "autoscaling:EC2_INSTANCE_TERMINATING" &&
      one(aws_autoscaling_group.gateways.initial_lifecycle_hook).heartbeat_timeout > var.drain_timeout
    )
    error_message = "scale-in waits in a termination lifecycle hook longer than the drain"
  }

  assert {
    condition     = strcontains(local.user_data, "--stop-timeout \"$DRAIN_TIMEOUT\"") && strcontains(local.user_data, "DRAIN_TIMEOUT=120") && strcontains(local.user_data, "docker stop -t 120 strata") && strcontains(local.user_data, "TimeoutStopSec=150")
    error_message = "SIGTERM gets the whole drain timeout before SIGKILL"
  }

  assert {
    condition     = jsondecode(aws_iam_role_policy.drain.policy).Statement[0].Resource == [aws_autoscaling_group.gateways.arn] && jsondecode(aws_iam_role_policy.drain.policy).Statement[0].Action == ["autoscaling:CompleteLifecycleAction"]
    error_message = "the drain permission covers only this group's lifecycle action"
  }
}

run "rejects_instance_specific_environment" {
  command = plan

  variables {
    environment = { STRATA_NODE_ID = "1" }
  }

  expect_failures = [var.environment]
}

run "rejects_open_world_clients" {
  command = plan

  variables {
    client_cidr_blocks = ["0.0.0.0/0"]
  }

  expect_failures = [var.client_cidr_blocks]
}
