//! Tracing: OpenTelemetry collectors (opentelemetry.io/v1beta1, run by the OpenTelemetry
//! operator) and Jaeger v2, which is itself an OpenTelemetry collector distribution and is
//! deployed the same way.
//!
//! Spans flow application → (load-balancing tier →) sampling collector → Jaeger. Tail sampling
//! decides per trace, so every span of a trace must reach the same collector: with more than
//! one sampling replica a first tier of collectors with the `loadbalancing` exporter routes
//! spans by trace ID to the sampling collectors behind their headless Service.

use serde_json::{Value, json};

use super::config::Tracing;
use super::slo::ratio;

/// The collector distribution that has the `tail_sampling`, `probabilistic_sampler` and
/// `loadbalancing` components (the core distribution lacks them).
pub const COLLECTOR_IMAGE: &str = "otel/opentelemetry-collector-contrib:0.129.1";
/// Jaeger v2: the collector with Jaeger's storage and query extensions.
pub const JAEGER_IMAGE: &str = "jaegertracing/jaeger:2.8.0";
/// OTLP ports.
pub const OTLP_GRPC: u16 = 4317;
pub const OTLP_HTTP: u16 = 4318;
/// Port of the Jaeger UI and query API.
pub const JAEGER_QUERY: u16 = 16686;

/// Where the tracing objects go and what they are called.
pub struct Names<'a> {
    pub project: &'a str,
    pub namespace: &'a str,
    pub cluster_domain: &'a str,
}

impl Names<'_> {
    pub fn collector(&self) -> String {
        format!("{}-otel", self.project)
    }
    pub fn loadbalancer(&self) -> String {
        format!("{}-otel-lb", self.project)
    }
    pub fn jaeger(&self) -> String {
        format!("{}-jaeger", self.project)
    }
    /// The Service the operator creates for a collector named `name`.
    fn service(&self, name: &str, suffix: &str) -> String {
        format!("{name}-collector{suffix}.{}.svc.{}", self.namespace, self.cluster_domain)
    }
    /// Host applications send spans to: the load-balancing tier when there is one.
    pub fn entry_host(&self, tracing: &Tracing) -> String {
        if has_loadbalancer(tracing) {
            self.service(&self.loadbalancer(), "")
        } else {
            self.service(&self.collector(), "")
        }
    }
}

pub fn replicas(tracing: &Tracing) -> u32 {
    tracing.replicas.unwrap_or(1)
}

/// Tail sampling across several replicas needs the trace-ID-routing first tier.
pub fn has_loadbalancer(tracing: &Tracing) -> bool {
    tracing.tail.is_some() && replicas(tracing) > 1
}

fn otlp_receiver() -> Value {
    json!({
        "otlp": {
            "protocols": {
                "grpc": { "endpoint": format!("0.0.0.0:{OTLP_GRPC}") },
                "http": { "endpoint": format!("0.0.0.0:{OTLP_HTTP}") },
            }
        }
    })
}

/// Keeps a collector from being OOM-killed under load: it refuses data before the limit.
fn memory_limiter() -> Value {
    json!({ "check_interval": "1s", "limit_percentage": 80, "spike_limit_percentage": 25 })
}

fn metadata(name: &str, namespace: &str) -> Value {
    json!({ "name": name, "namespace": namespace })
}

/// The sampling collector: OTLP in, sampling, OTLP out to Jaeger.
pub fn collector(names: &Names<'_>, tracing: &Tracing) -> Value {
    let mut processors = serde_json::Map::new();
    processors.insert("memory_limiter".into(), memory_limiter());
    let mut pipeline = vec!["memory_limiter".to_string()];
    if let Some(tail) = &tracing.tail {
        let mut policies = Vec::new();
        if tail.errors {
            policies.push(json!({
                "name": "errors",
                "type": "status_code",
                "status_code": { "status_codes": ["ERROR"] },
            }));
        }
        if let Some(slow) = tail.slower_than {
            policies.push(json!({
                "name": "slow",
                "type": "latency",
                "latency": { "threshold_ms": slow.millis },
            }));
        }
        if let Some(p) = tracing.sampling {
            // Policies are ORed: the rest of the traces are kept at the sampling rate.
            policies.push(json!({
                "name": "baseline",
                "type": "probabilistic",
                "probabilistic": { "sampling_percentage": p.value() },
            }));
        }
        let wait = tail.decision_wait.map(|d| d.to_go()).unwrap_or_else(|| "10s".into());
        processors.insert("tail_sampling".into(), json!({ "decision_wait": wait, "policies": policies }));
        pipeline.push("tail_sampling".into());
    } else if let Some(p) = tracing.sampling.filter(|p| p.value() < 100.0) {
        processors.insert("probabilistic_sampler".into(), json!({ "sampling_percentage": p.value() }));
        pipeline.push("probabilistic_sampler".into());
    }
    processors.insert("batch".into(), json!({}));
    pipeline.push("batch".into());
    let jaeger = format!("{}:{OTLP_GRPC}", names.service(&names.jaeger(), ""));
    json!({
        "apiVersion": "opentelemetry.io/v1beta1",
        "kind": "OpenTelemetryCollector",
        "metadata": metadata(&names.collector(), names.namespace),
        "spec": {
            "mode": "deployment",
            "replicas": replicas(tracing),
            "image": tracing.image.as_deref().unwrap_or(COLLECTOR_IMAGE),
            "config": {
                "receivers": otlp_receiver(),
                "processors": processors,
                "exporters": {
                    // In-cluster traffic to Jaeger; the mesh (if any) encrypts it.
                    "otlp/jaeger": { "endpoint": jaeger, "tls": { "insecure": true } },
                },
                "service": {
                    "pipelines": {
                        "traces": { "receivers": ["otlp"], "processors": pipeline, "exporters": ["otlp/jaeger"] },
                    }
                }
            }
        }
    })
}

/// The first tier: routes every span by trace ID to one sampling collector, found through the
/// sampling collectors' headless Service (DNS, so it needs no Kubernetes API permissions).
pub fn loadbalancer(names: &Names<'_>, tracing: &Tracing) -> Value {
    json!({
        "apiVersion": "opentelemetry.io/v1beta1",
        "kind": "OpenTelemetryCollector",
        "metadata": metadata(&names.loadbalancer(), names.namespace),
        "spec": {
            "mode": "deployment",
            "replicas": replicas(tracing),
            "image": tracing.image.as_deref().unwrap_or(COLLECTOR_IMAGE),
            "config": {
                "receivers": otlp_receiver(),
                "processors": { "memory_limiter": memory_limiter() },
                "exporters": {
                    "loadbalancing": {
                        "routing_key": "traceID",
                        "protocol": { "otlp": { "tls": { "insecure": true } } },
                        "resolver": {
                            "dns": {
                                "hostname": names.service(&names.collector(), "-headless"),
                                "port": OTLP_GRPC.to_string(),
                            }
                        }
                    }
                },
                "service": {
                    "pipelines": {
                        "traces": { "receivers": ["otlp"], "processors": ["memory_limiter"], "exporters": ["loadbalancing"] },
                    }
                }
            }
        }
    })
}

/// Jaeger v2 as a collector-based deployment: OTLP in, Jaeger storage, the query service and UI
/// on port 16686. Storage is Jaeger's in-memory store (one replica; traces are lost on restart).
pub fn jaeger(names: &Names<'_>, tracing: &Tracing) -> Value {
    json!({
        "apiVersion": "opentelemetry.io/v1beta1",
        "kind": "OpenTelemetryCollector",
        "metadata": metadata(&names.jaeger(), names.namespace),
        "spec": {
            "mode": "deployment",
            "replicas": 1,
            "image": tracing.jaeger_image.as_deref().unwrap_or(JAEGER_IMAGE),
            "ports": [ { "name": "jaeger-query", "port": JAEGER_QUERY } ],
            "config": {
                "extensions": {
                    "jaeger_storage": { "backends": { "traces": { "memory": { "max_traces": 100000 } } } },
                    "jaeger_query": { "storage": { "traces": "traces" } },
                },
                "receivers": otlp_receiver(),
                "processors": { "batch": {} },
                "exporters": { "jaeger_storage_exporter": { "trace_storage": "traces" } },
                "service": {
                    "extensions": ["jaeger_storage", "jaeger_query"],
                    "pipelines": {
                        "traces": { "receivers": ["otlp"], "processors": ["batch"], "exporters": ["jaeger_storage_exporter"] },
                    }
                }
            }
        }
    })
}

/// An Instrumentation in `namespace`: the operator injects SDKs that export to the collector.
/// With tail sampling every trace is recorded at the source (the collector decides); otherwise
/// the SDK samples at the configured rate, respecting the caller's decision.
pub fn instrumentation(names: &Names<'_>, tracing: &Tracing, namespace: &str) -> Value {
    let rate = match (&tracing.tail, tracing.sampling) {
        (Some(_), _) | (None, None) => 1.0,
        (None, Some(p)) => p.value() / 100.0,
    };
    json!({
        "apiVersion": "opentelemetry.io/v1alpha1",
        "kind": "Instrumentation",
        "metadata": metadata(names.project, namespace),
        "spec": {
            "exporter": { "endpoint": format!("http://{}:{OTLP_HTTP}", names.entry_host(tracing)) },
            "propagators": ["tracecontext", "baggage"],
            "sampler": { "type": "parentbased_traceidratio", "argument": ratio(rate) },
        }
    })
}
