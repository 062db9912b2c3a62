//! Tests against local emulators (moto, kube-test-server + kubectl, cloudflare-, gcp- and
//! azure-test-server, and `strata sandbox`, which runs them all).

mod cli_s3;
mod drift_cronjob;
mod e2e_aws;
mod e2e_azure;
mod e2e_cloudflare;
mod e2e_gcp;
mod e2e_kube;
mod e2e_mesh;
mod e2e_multicdn;
mod e2e_observability;
mod e2e_sandbox;
mod e2e_scaling_flags;
mod e2e_slo_gate;
