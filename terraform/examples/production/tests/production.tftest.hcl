# The whole production example against a mocked AWS provider: no network,
# no credentials. Mocks return well-formed ids and ARNs where the provider or
# a module's validation checks them.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "111122223333"
    }
  }
  mock_data "aws_region" {
    defaults = {
      name = "eu-west-1"
    }
  }
  mock_resource "aws_s3_bucket" {
    defaults = {
      arn = "arn:aws:s3:::strata-segments-111122223333"
    }
  }
  mock_resource "aws_security_group" {
    defaults = {
      id = "sg-0123456789abcdef0"
    }
  }
  mock_resource "aws_lb" {
    defaults = {
      dns_name = "strata-gw-0123.elb.eu-west-1.amazonaws.com"
      arn      = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/net/strata-gw/0123456789abcdef"
    }
  }
  mock_resource "aws_lb_target_group" {
    defaults = {
      arn = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/strata-kafka/0123456789abcdef"
    }
  }
  mock_resource "aws_launch_template" {
    defaults = {
      id = "lt-0123456789abcdef0"
    }
  }
  mock_resource "aws_network_interface" {
    defaults = {
      private_ip = "10.0.1.10"
    }
  }
}

variables {
  region = "eu-west-1"
  vpc_id = "vpc-0abc"
  subnets = {
    "eu-west-1a" = "subnet-0a"
    "eu-west-1b" = "subnet-0b"
    "eu-west-1c" = "subnet-0c"
  }
  gateway_image      = "registry.example.com/strata:v1.0.0"
  client_cidr_blocks = ["10.0.0.0/16"]
}

# A plan leaves every computed id unknown, as a first real plan would: no
# for_each or count may depend on one.
run "plans_with_unknown_ids" {
  command = plan

  assert {
    condition     = length(module.nats.server_configs) == 3
    error_message = "three NATS nodes planned"
  }
}

run "three_zones_r3_autoscaling" {
  command = apply

  assert {
    condition     = toset([for n in output.nats_nodes : n.availability_zone]) == toset(keys(var.subnets)) && length(output.nats_nodes) == 3
    error_message = "one NATS node in each of the three zones"
  }

  assert {
    condition     = alltrue([for c in values(module.nats.server_configs) : strcontains(c, "sync_interval: always") && strcontains(c, "max_payload: 8MB")])
    error_message = "every NATS node fsyncs every write and takes 8 MiB messages"
  }

  assert {
    condition     = module.gateways.strata_environment.STRATA_NATS_REPLICAS == "3"
    error_message = "the gateways use R3"
  }

  assert {
    condition     = output.bootstrap_servers == "strata-gw-0123.elb.eu-west-1.amazonaws.com:9092" && output.schema_registry_url == "http://strata-gw-0123.elb.eu-west-1.amazonaws.com:8081"
    error_message = "bootstrap servers and the schema registry URL are outputs"
  }

  assert {
    condition     = output.bucket_name == "strata-segments-111122223333"
    error_message = "the bucket is named after the cluster and the account"
  }

  assert {
    condition     = module.gateways.strata_environment.STRATA_S3_BUCKET == output.bucket_name
    error_message = "the gateways write to the module's bucket"
  }
}

run "rejects_two_zones" {
  command = plan

  variables {
    subnets = {
      "eu-west-1a" = "subnet-0a"
      "eu-west-1b" = "subnet-0b"
    }
  }

  expect_failures = [var.subnets]
}

run "rejects_latest_and_open_world" {
  command = plan

  variables {
    gateway_image      = "registry.example.com/strata:latest"
    client_cidr_blocks = ["0.0.0.0/0"]
  }

  expect_failures = [var.gateway_image, var.client_cidr_blocks]
}
