output "gateway_role_name" {
  description = "Name of the gateways' role (other modules attach their own narrow policies to it)."
  value       = aws_iam_role.gateway.name
}

output "gateway_role_arn" {
  description = "ARN of the gateways' role."
  value       = aws_iam_role.gateway.arn
}

output "gateway_instance_profile_name" {
  description = "Instance profile for gateway EC2 instances (the gateways module's instance_profile_name)."
  value       = aws_iam_instance_profile.gateway.name
}

output "gateway_policy_json" {
  description = "The gateways' S3 policy document."
  value       = local.gateway_policy
}

output "reader_role_name" {
  description = "Name of the read-only role for strata replay and analytics."
  value       = aws_iam_role.reader.name
}

output "reader_role_arn" {
  description = "ARN of the read-only role for strata replay and analytics."
  value       = aws_iam_role.reader.arn
}

output "reader_instance_profile_name" {
  description = "Instance profile for EC2 hosts that run strata replay or analytics jobs."
  value       = aws_iam_instance_profile.reader.name
}

output "reader_policy_json" {
  description = "The read-only role's S3 policy document."
  value       = local.reader_policy
}
