# Strata gateways as an EC2 Auto Scaling group (see README.md for why not
# ECS on Fargate): one container per instance, host networking, spread over
# the subnets' zones. Each instance derives its broker id, rack and
# advertised address at boot (files/strata-gateway.sh). A network load
# balancer serves only Kafka bootstrap and the schema registry; after
# bootstrap, clients connect to each gateway's own address.

locals {
  ami_id   = var.ami_id != null ? var.ami_id : nonsensitive(data.aws_ssm_parameter.al2023[0].value)
  asg_name = "${var.name}-gateways"
  hook     = "strata-drain"
  lb_sub   = coalesce(var.load_balancer_subnet_ids, var.subnet_ids)

  # Passed to strata serve as environment variables (every flag has a
  # STRATA_* twin); STRATA_NODE_ID, STRATA_RACK and
  # STRATA_ADVERTISED_LISTENERS are added on the instance.
  strata_env = merge({
    STRATA_LISTENERS                       = "${var.kafka_security_protocol}://0.0.0.0:${var.kafka_port}"
    STRATA_ALLOW_UNAUTHENTICATED_LISTENERS = tostring(var.allow_unauthenticated_clients)
    STRATA_HTTP_LISTEN                     = "0.0.0.0:${var.http_port}"
    STRATA_SCHEMA_REGISTRY_LISTEN          = "0.0.0.0:${var.schema_registry_port}"
    STRATA_OBJECT_STORE                    = "s3"
    STRATA_S3_BUCKET                       = var.bucket_name
    STRATA_S3_REGION                       = var.bucket_region
    STRATA_NATS_URL                        = var.nats_url
    STRATA_NATS_MONITOR_URL                = var.nats_monitor_url
    STRATA_NATS_REPLICAS                   = tostring(var.nats_replicas)
    STRATA_DATA_DIR                        = "/var/lib/strata"
  }, var.environment)

  gateway_conf = {
    STRATA_IMAGE   = var.image
    KAFKA_PORT     = tostring(var.kafka_port)
    KAFKA_PROTOCOL = var.kafka_security_protocol
    DRAIN_TIMEOUT  = tostring(var.drain_timeout)
    ENV_FILE       = "/etc/strata/strata.env"
    ASG_NAME       = local.asg_name
    LIFECYCLE_HOOK = local.hook
    REGION         = data.aws_region.current.name
  }

  user_data = templatefile("${path.module}/templates/user_data.sh.tftpl", {
    gateway_conf   = join("\n", [for k in sort(keys(local.gateway_conf)) : "${k}=${local.gateway_conf[k]}"])
    strata_env     = join("\n", [for k in sort(keys(local.strata_env)) : "${k}=${local.strata_env[k]}"])
    gateway_script = trimspace(file("${path.module}/files/strata-gateway.sh"))
    image          = var.image
    drain_timeout  = var.drain_timeout
  })

  lb_ports = {
    kafka           = var.kafka_port
    schema-registry = var.schema_registry_port
  }
}

data "aws_region" "current" {}

data "aws_ssm_parameter" "al2023" {
  count = var.ami_id == null ? 1 : 0
  name  = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

# --- Security groups -------------------------------------------------------

resource "aws_security_group" "gateways" {
  name_prefix = "${var.name}-gateways-"
  description = "Strata gateways"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-gateways" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_security_group" "lb" {
  name_prefix = "${var.name}-gateways-lb-"
  description = "Strata bootstrap load balancer"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-gateways-lb" })

  lifecycle {
    create_before_destroy = true
  }
}

locals {
  # Every (port, source) pair clients may use, on the gateways and on the
  # load balancer alike.
  client_rules = merge(
    { for p in setproduct(keys(local.lb_ports), range(length(var.client_cidr_blocks))) : "${p[0]}-cidr-${p[1]}" => { port = local.lb_ports[p[0]], cidr = var.client_cidr_blocks[p[1]], sg = null } },
    { for p in setproduct(keys(local.lb_ports), range(length(var.client_security_group_ids))) : "${p[0]}-sg-${p[1]}" => { port = local.lb_ports[p[0]], cidr = null, sg = var.client_security_group_ids[p[1]] } },
  )
  metrics_rules = merge(
    { for i, c in var.metrics_cidr_blocks : "metrics-cidr-${i}" => { cidr = c, sg = null } },
    { for i in range(length(var.metrics_security_group_ids)) : "metrics-sg-${i}" => { cidr = null, sg = var.metrics_security_group_ids[i] } },
  )
}

resource "aws_vpc_security_group_ingress_rule" "gateway_clients" {
  for_each = local.client_rules

  security_group_id            = aws_security_group.gateways.id
  description                  = "Kafka and schema registry clients, straight to each gateway"
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  cidr_ipv4                    = each.value.cidr
  referenced_security_group_id = each.value.sg
}

resource "aws_vpc_security_group_ingress_rule" "lb_clients" {
  for_each = local.client_rules

  security_group_id            = aws_security_group.lb.id
  description                  = "Kafka bootstrap and schema registry clients"
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  cidr_ipv4                    = each.value.cidr
  referenced_security_group_id = each.value.sg
}

resource "aws_vpc_security_group_ingress_rule" "from_lb" {
  for_each = merge(local.lb_ports, { http = var.http_port })

  security_group_id            = aws_security_group.gateways.id
  description                  = "Load balancer traffic and health checks (${each.key})"
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
  referenced_security_group_id = aws_security_group.lb.id
}

resource "aws_vpc_security_group_ingress_rule" "metrics" {
  for_each = local.metrics_rules

  security_group_id            = aws_security_group.gateways.id
  description                  = "Prometheus scraping /metrics"
  ip_protocol                  = "tcp"
  from_port                    = var.http_port
  to_port                      = var.http_port
  cidr_ipv4                    = each.value.cidr
  referenced_security_group_id = each.value.sg
}

resource "aws_vpc_security_group_egress_rule" "gateways" {
  security_group_id = aws_security_group.gateways.id
  description       = "NATS, S3, the container registry"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "lb" {
  for_each = merge(local.lb_ports, { http = var.http_port })

  security_group_id            = aws_security_group.lb.id
  description                  = "To the gateways (${each.key})"
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
  referenced_security_group_id = aws_security_group.gateways.id
}

# --- Bootstrap load balancer ------------------------------------------------

resource "aws_lb" "bootstrap" {
  name                             = "${var.name}-gw"
  load_balancer_type               = "network"
  internal                         = var.internal_load_balancer
  subnets                          = local.lb_sub
  security_groups                  = [aws_security_group.lb.id]
  enable_cross_zone_load_balancing = true
  tags                             = var.tags
}

resource "aws_lb_target_group" "this" {
  for_each = local.lb_ports

  name                 = "${var.name}-${each.key == "kafka" ? "kafka" : "sr"}"
  port                 = each.value
  protocol             = "TCP"
  target_type          = "instance"
  vpc_id               = var.vpc_id
  deregistration_delay = 30
  tags                 = var.tags

  health_check {
    protocol            = "HTTP"
    port                = tostring(var.http_port)
    path                = "/healthz"
    matcher             = "200"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }
}

resource "aws_lb_listener" "this" {
  for_each = local.lb_ports

  load_balancer_arn = aws_lb.bootstrap.arn
  port              = each.value
  protocol          = "TCP"
  tags              = var.tags

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this[each.key].arn
  }
}

# --- Instances --------------------------------------------------------------

resource "aws_launch_template" "gateway" {
  name_prefix            = "${var.name}-gateway-"
  image_id               = local.ami_id
  instance_type          = var.instance_type
  key_name               = var.key_name
  vpc_security_group_ids = [aws_security_group.gateways.id]
  user_data              = base64encode(local.user_data)
  update_default_version = true
  tags                   = var.tags

  iam_instance_profile {
    name = var.instance_profile_name
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size = 30
      volume_type = "gp3"
      encrypted   = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags = merge(var.tags, {
      Name          = "${var.name}-gateway"
      "strata:role" = "gateway"
      # For Prometheus EC2 service discovery: keep instances with this tag
      # and scrape __meta_ec2_private_ip on this port.
      "prometheus:scrape" = "true"
      "prometheus:port"   = tostring(var.http_port)
    })
  }
}

resource "aws_autoscaling_group" "gateways" {
  name                      = local.asg_name
  vpc_zone_identifier       = var.subnet_ids
  min_size                  = var.min_size
  max_size                  = var.max_size
  health_check_type         = "ELB"
  health_check_grace_period = 300
  default_instance_warmup   = 120
  target_group_arns         = [for tg in aws_lb_target_group.this : tg.arn]

  launch_template {
    id      = aws_launch_template.gateway.id
    version = aws_launch_template.gateway.latest_version
  }

  # Scale-in (and instance refresh) holds each instance in Terminating:Wait
  # while strata-drain stops the gateway with SIGTERM; it then completes the
  # action. The timeout is the backstop if the watcher is gone.
  initial_lifecycle_hook {
    name                 = local.hook
    lifecycle_transition = "autoscaling:EC2_INSTANCE_TERMINATING"
    heartbeat_timeout    = var.drain_timeout + 60
    default_result       = "CONTINUE"
  }

  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 66
      instance_warmup        = 120
    }
  }

  dynamic "tag" {
    for_each = merge(var.tags, { Name = "${var.name}-gateway" })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = false
    }
  }

  lifecycle {
    precondition {
      condition     = var.min_size >= 1 && var.min_size <= var.max_size
      error_message = "min_size must be at least 1 and at most max_size."
    }
  }
}

resource "aws_autoscaling_policy" "cpu" {
  name                   = "${var.name}-gateways-cpu"
  autoscaling_group_name = aws_autoscaling_group.gateways.name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
    target_value = var.target_cpu_utilization
  }
}

# The drain watcher completes its own group's lifecycle action, and nothing
# else.
resource "aws_iam_role_policy" "drain" {
  name = "strata-drain"
  role = var.gateway_role_name
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["autoscaling:CompleteLifecycleAction"]
      Resource = [aws_autoscaling_group.gateways.arn]
    }]
  })
}
