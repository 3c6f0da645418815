# The whole minimal example against a mocked AWS provider: no network,
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
      arn = "arn:aws:s3:::strata-try-segments-111122223333"
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
  region             = "eu-west-1"
  vpc_id             = "vpc-0abc"
  subnet_id          = "subnet-0a"
  availability_zone  = "eu-west-1a"
  gateway_image      = "registry.example.com/strata:v1.0.0"
  client_cidr_blocks = ["10.0.0.0/16"]
}

run "plans_with_unknown_ids" {
  command = plan
}

run "one_zone_r1" {
  command = apply

  assert {
    condition     = module.nats.replicas == 1 && module.gateways.strata_environment.STRATA_NATS_REPLICAS == "1"
    error_message = "one NATS node, R1"
  }

  assert {
    condition     = strcontains(module.nats.server_configs["n1"], "sync_interval: always")
    error_message = "even the single node fsyncs every write"
  }

  assert {
    condition     = output.bootstrap_servers == "strata-gw-0123.elb.eu-west-1.amazonaws.com:9092" && output.schema_registry_url == "http://strata-gw-0123.elb.eu-west-1.amazonaws.com:8081"
    error_message = "bootstrap servers and the schema registry URL are outputs"
  }

  assert {
    condition     = module.bucket.features.public_access_block && output.bucket_name == "strata-try-segments-111122223333"
    error_message = "the bucket blocks public access"
  }
}

run "rejects_a_zone_for_a_region" {
  command = plan

  variables {
    availability_zone = "eu-west-1"
  }

  expect_failures = [var.availability_zone]
}
